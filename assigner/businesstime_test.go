package assigner

import (
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestAddBusinessTime(t *testing.T) {
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	office := &Hours{TimeZone: "UTC", Days: weekdays, From: 9 * 60, To: 18 * 60}
	lisbon := mustZone(t, "Europe/Lisbon")
	nightShift := &Hours{TimeZone: "Europe/Lisbon", Days: []time.Weekday{time.Monday}, From: 22 * 60, To: 6 * 60}
	ny := mustZone(t, "America/New_York")
	earlyNY := &Hours{TimeZone: "America/New_York", From: 60, To: 4 * 60}
	gapNY := &Hours{TimeZone: "America/New_York", From: 150, To: 5 * 60} // 02:30: skipped on Mar 8 2026
	kolkata := &Hours{TimeZone: "Asia/Kolkata", From: 9 * 60, To: 18 * 60}
	allDay := &Hours{TimeZone: "UTC", From: 0, To: 1440}
	mon := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, time.UTC) } // t0's Monday
	for _, tc := range []struct {
		name  string
		h     *Hours
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"no hours: wall time", nil, mon(20, 0, 0), 90 * time.Minute, mon(21, 30, 0)},
		{"zero duration stays even when closed", office, mon(20, 0, 0), 0, mon(20, 0, 0)},
		{"inside the hours", office, mon(10, 0, 0), time.Hour, mon(11, 0, 0)},
		{"ends exactly at closing", office, mon(17, 0, 0), time.Hour, mon(18, 0, 0)},
		{"before opening", office, mon(8, 0, 0), 30 * time.Minute, mon(9, 30, 0)},
		{"carries over to the next day", office, mon(17, 30, 0), time.Hour, mon(9, 30, 0).AddDate(0, 0, 1)},
		{"two seconds from a closed weekend", office, mon(12, 0, 0).AddDate(0, 0, -2), 2 * time.Second, mon(9, 0, 2)},
		{"Friday evening to Monday", office, mon(17, 30, 0).AddDate(0, 0, 4), time.Hour, mon(9, 30, 0).AddDate(0, 0, 7)},
		{"two business days", office, mon(9, 0, 0), 18 * time.Hour, mon(18, 0, 0).AddDate(0, 0, 1)},
		{"a whole week of business", office, mon(9, 0, 0), 45 * time.Hour, mon(18, 0, 0).AddDate(0, 0, 4)},
		{"all day is wall time", allDay, mon(23, 0, 0), 3 * time.Hour, mon(2, 0, 0).AddDate(0, 0, 1)},
		{"overnight window, in its morning part", nightShift, time.Date(2026, 3, 3, 3, 0, 0, 0, lisbon), time.Hour,
			time.Date(2026, 3, 3, 4, 0, 0, 0, lisbon)},
		{"overnight window, rest a week later", nightShift, time.Date(2026, 3, 3, 5, 30, 0, 0, lisbon), time.Hour,
			time.Date(2026, 3, 9, 22, 30, 0, 0, lisbon)},
		{"the README's example: Friday 17:50 in São Paulo", &Hours{TimeZone: "America/Sao_Paulo", Days: weekdays, From: 540, To: 1080},
			time.Date(2026, 3, 6, 20, 50, 0, 0, time.UTC), 15 * time.Minute, time.Date(2026, 3, 9, 12, 5, 0, 0, time.UTC)},
		{"time zone ahead of UTC", kolkata, mon(3, 0, 0), time.Hour, mon(4, 30, 0)},
		{"spring forward: a short window", earlyNY, time.Date(2026, 3, 8, 1, 0, 0, 0, ny), 150 * time.Minute,
			time.Date(2026, 3, 9, 1, 30, 0, 0, ny)},
		{"fall back: a long window", earlyNY, time.Date(2026, 11, 1, 1, 0, 0, 0, ny), 210 * time.Minute,
			time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC)},
		{"spring forward skips the opening time", gapNY, time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Minute,
			time.Date(2026, 3, 8, 3, 1, 0, 0, ny)},
	} {
		got, err := AddBusinessTime(tc.h, tc.start, tc.d)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("%s: %s + %s = %s, want %s", tc.name, tc.start, tc.d, got.UTC(), tc.want.UTC())
		}
	}
}

func TestAddBusinessTimeFails(t *testing.T) {
	if _, err := AddBusinessTime(&Hours{TimeZone: "Mars/Olympus", From: 0, To: 60}, t0, time.Hour); err == nil {
		t.Error("an unknown time zone: no error")
	}
	// Hours never open (not valid, but not trusted either): an error, not a loop.
	for _, never := range []*Hours{{TimeZone: "UTC", Days: []time.Weekday{9}, From: 0, To: 1440}, {TimeZone: "UTC", Days: []time.Weekday{-1}, From: 60, To: 120}} {
		if _, err := AddBusinessTime(never, t0, time.Second); err == nil {
			t.Errorf("%+v: no error", *never)
		}
	}
	// One minute a week cannot hold a year of business time: an error, not a long loop.
	thin := &Hours{TimeZone: "UTC", Days: []time.Weekday{time.Sunday}, From: 0, To: 1}
	start := time.Now()
	if _, err := AddBusinessTime(thin, t0, 366*24*time.Hour); err == nil {
		t.Error("too little open time: no error")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the bounded walk took %s", took)
	}
}

// Inbox.Validate keeps the SLA and the business hours it counts in sane.
func TestInboxSLAValidate(t *testing.T) {
	office := &Hours{TimeZone: "UTC", Days: []time.Weekday{time.Monday}, From: 9 * 60, To: 10 * 60}
	for _, tc := range []struct {
		name string
		in   Inbox
		ok   bool
	}{
		{"none", Inbox{PhoneNumberID: "pn"}, true},
		{"sla", Inbox{PhoneNumberID: "pn", FirstResponseSLASeconds: ptr(2)}, true},
		{"sla with hours", Inbox{PhoneNumberID: "pn", FirstResponseSLASeconds: ptr(3600), BusinessHours: office}, true},
		{"zero", Inbox{PhoneNumberID: "pn", FirstResponseSLASeconds: ptr(0)}, false},
		{"negative", Inbox{PhoneNumberID: "pn", FirstResponseSLASeconds: ptr(-5)}, false},
		{"over 7 days", Inbox{PhoneNumberID: "pn", FirstResponseSLASeconds: ptr(MaxSLASeconds + 1)}, false},
		{"bad hours", Inbox{PhoneNumberID: "pn", BusinessHours: &Hours{TimeZone: "Nowhere/City", From: 60, To: 60}}, false},
		{"outside hours", Inbox{PhoneNumberID: "pn", BusinessHours: &Hours{TimeZone: "UTC", From: 60, To: 120, Outside: true}}, false},
		{"more than 52 weeks of the hours", Inbox{PhoneNumberID: "pn", FirstResponseSLASeconds: ptr(53 * 3600), BusinessHours: office}, false},
	} {
		err := tc.in.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

var fuzzZones = []string{"UTC", "America/New_York", "Europe/Lisbon", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Chatham", "America/Santiago", "America/Havana"}

// Properties of AddBusinessTime for any valid hours: it ends (bounded),
// never before start + d, inside the hours (or at their closing), is
// monotonic in d, and adding in two steps equals adding at once.
func FuzzAddBusinessTime(f *testing.F) {
	f.Add(int64(1772446140), uint32(3600), uint16(540), uint16(1080), uint8(0x3e), uint8(0), uint32(60))
	f.Add(int64(1772946000), uint32(9000), uint16(60), uint16(240), uint8(0), uint8(1), uint32(7200))
	f.Add(int64(1793509200), uint32(86400), uint16(1320), uint16(360), uint8(0x02), uint8(2), uint32(1))
	f.Add(int64(1772946000), uint32(59), uint16(150), uint16(300), uint8(0x7f), uint8(1), uint32(3))
	f.Add(int64(1775400000), uint32(604800), uint16(0), uint16(1), uint8(0x40), uint8(4), uint32(86400))
	f.Fuzz(func(t *testing.T, unix int64, secs uint32, from, to uint16, days, zone uint8, more uint32) {
		h := &Hours{TimeZone: fuzzZones[int(zone)%len(fuzzZones)], From: int(from % 1440), To: int(to%1440) + 1}
		for d := time.Sunday; d <= time.Saturday; d++ {
			if days&(1<<d) != 0 {
				h.Days = append(h.Days, d)
			}
		}
		if h.Validate() != nil {
			return
		}
		start := time.Unix(unix%(4<<30), 0) // 1902..2106
		d := time.Duration(secs%MaxSLASeconds) * time.Second
		if d > maxBusinessWeeks*h.weeklyOpen()*9/10 {
			return // Inbox.Validate refuses it
		}
		got, err := AddBusinessTime(h, start, d)
		if err != nil {
			t.Fatalf("%s + %s in %s: %v", start, d, h, err)
		}
		if got.Before(start.Add(d)) {
			t.Fatalf("%s + %s in %s = %s: before the wall-clock sum", start, d, h, got)
		}
		if d > 0 && !nearChange(got.In(mustZone(t, h.TimeZone))) {
			if in, _ := h.Contains(got.Add(-time.Nanosecond)); !in {
				t.Fatalf("%s + %s in %s = %s: the clock ran while closed", start, d, h, got.In(mustZone(t, h.TimeZone)))
			}
		}
		e := time.Duration(more%86400) * time.Second
		if d+e > maxBusinessWeeks*h.weeklyOpen()*9/10 {
			return
		}
		later, err := AddBusinessTime(h, start, d+e)
		if err != nil {
			t.Fatal(err)
		}
		if later.Before(got) {
			t.Fatalf("not monotonic: +%s = %s but +%s = %s", d, got, d+e, later)
		}
		if twoSteps, err := AddBusinessTime(h, got, e); err != nil || !twoSteps.Equal(later) {
			t.Fatalf("+%s then +%s = %s (%v), at once %s", d, e, twoSteps, err, later)
		}
	})
}

// nearChange reports whether t is within two hours after a change of the
// zone's offset: there a fall-back change repeats clock times, which
// Contains counts twice and AddBusinessTime once.
func nearChange(t time.Time) bool {
	start, _ := t.ZoneBounds()
	return !start.IsZero() && t.Sub(start) < 2*time.Hour
}

// Where a daylight-saving change skips midnight (America/Santiago, the
// first Sunday of September 2024 began at 01:00), that day's window is
// still that day's.
func TestAddBusinessTimeMidnightGap(t *testing.T) {
	santiago := mustZone(t, "America/Santiago")
	h := &Hours{TimeZone: "America/Santiago", Days: []time.Weekday{time.Sunday}, From: 9 * 60, To: 10 * 60}
	start := time.Date(2024, 9, 7, 12, 0, 0, 0, santiago) // Saturday
	got, err := AddBusinessTime(h, start, 30*time.Minute)
	if want := time.Date(2024, 9, 8, 9, 30, 0, 0, santiago); err != nil || !got.Equal(want) {
		t.Errorf("got %v (%v), want %v", got.In(santiago), err, want)
	}
}
