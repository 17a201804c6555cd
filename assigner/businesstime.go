package assigner

import (
	"errors"
	"fmt"
	"time"
)

// maxBusinessDays bounds how many local days AddBusinessTime walks, so
// that hours open too little for the time asked fail instead of looping
// for ever. Inbox.Validate keeps an SLA within maxBusinessWeeks of its
// hours' open time, which always ends inside the walk.
const maxBusinessDays = 53 * 7

// maxBusinessWeeks is how many weeks of its business hours an SLA may
// span at most.
const maxBusinessWeeks = 52

// errNeverOpen: the walk found too little open time.
var errNeverOpen = errors.New("the business hours leave too little open time")

// AddBusinessTime returns the instant at which d of open business time has
// passed since start: the clock runs only while h is open (its Outside is
// ignored), across days, time zones and daylight-saving changes; nil h is
// always open (start + d). The result is start when d <= 0; otherwise it
// is inside the hours or the very instant they close, and never before
// start + d. A window's opening or closing time that a spring-forward
// change skips is the instant of the change; one that a fall-back change
// repeats is its first occurrence. It fails when h's time zone
// is unknown or the hours are not open long enough within a bounded
// number of days.
func AddBusinessTime(h *Hours, start time.Time, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return start, nil
	}
	if h == nil {
		return start.Add(d), nil
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return time.Time{}, fmt.Errorf("time zone %q: %v", h.TimeZone, err)
	}
	cursor, left := start, d
	y, m, day := start.In(loc).Date()
	// From the day before: its window may span midnight into start's day.
	for n := -1; n < maxBusinessDays; n++ {
		// The calendar date, in UTC: a local midnight may not exist.
		date := time.Date(y, m, day+n, 12, 0, 0, 0, time.UTC)
		if !h.onDay(date.Weekday()) {
			continue
		}
		open, shut := h.window(date, loc)
		if !shut.After(cursor) {
			continue
		}
		if open.Before(cursor) {
			open = cursor
		}
		if !shut.After(open) {
			continue
		}
		avail := shut.Sub(open)
		if left <= avail {
			return open.Add(left), nil
		}
		left, cursor = left-avail, shut
	}
	return time.Time{}, fmt.Errorf("%w: %s of business time after %s in %s", errNeverOpen, d, start.UTC().Format(time.RFC3339), h)
}

// weeklyOpen is how long the hours are open in a week without a
// daylight-saving change.
func (h Hours) weeklyOpen() time.Duration {
	days := 7
	if len(h.Days) > 0 {
		days = 0
		for d := time.Sunday; d <= time.Saturday; d++ {
			if h.onDay(d) {
				days++
			}
		}
	}
	mins := h.To - h.From
	if mins <= 0 {
		mins += 24 * 60
	}
	return time.Duration(days*mins) * time.Minute
}

// window is when the hours that start on the calendar date (its year,
// month and day) open and close in loc; a window spanning midnight closes
// on the next date.
func (h Hours) window(date time.Time, loc *time.Location) (open, shut time.Time) {
	y, m, d := date.Date()
	if h.To > h.From {
		return wallClock(y, m, d, h.From, loc), wallClock(y, m, d, h.To, loc)
	}
	return wallClock(y, m, d, h.From, loc), wallClock(y, m, d+1, h.To, loc)
}

// wallClock is the first instant the local clock shows mins after
// midnight on the date: a time skipped by a spring-forward change is the
// instant of the change; a time repeated by a fall-back change is its
// first occurrence.
func wallClock(y int, m time.Month, d, mins int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, mins, 0, 0, loc)
	// The clock readings asked and got, compared as if in UTC.
	asked := time.Date(y, m, d, 0, mins, 0, 0, time.UTC)
	got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
	// In a gap time.Date keeps the offset from one side of it: the clock
	// jumps over the time asked where the zone of t starts (t reads
	// later than asked) or ends (t reads earlier).
	start, end := t.ZoneBounds()
	switch {
	case got.After(asked) && !start.IsZero():
		return start
	case got.Before(asked) && !end.IsZero():
		return end
	case start.IsZero():
		return t
	}
	// Repeated by a fall-back change: the first occurrence is as many
	// seconds earlier as the offset fell.
	_, before := start.Add(-time.Second).Zone()
	_, after := t.Zone()
	if first := t.Add(-time.Duration(before-after) * time.Second); before > after && first.Before(start) {
		return first
	}
	return t
}
