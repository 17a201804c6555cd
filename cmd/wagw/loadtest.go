package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/loadtest"
)

const loadtestUsage = `wagw loadtest — prove the gateway's speed and correctness on this machine

usage: wagw loadtest <command> [flags]

commands:
  run       generate realistic signed traffic and send it (open or closed loop),
            then verify what was stored and write the report
  generate  write generated traffic to a capture file (JSONL) to replay later
  replay    send capture files again: original pace, a multiple (-speed 2),
            or as fast as possible (-speed 0); bodies are re-signed
  verify    check a finished run (its sent.jsonl) against the database or the API
  setup     create agents, a round-robin team and the inbox's welcome text via the API
  noop      serve a Fiber handler that only answers 200 (the HTTP floor)
  report    print a run's summary again and rewrite its report.html from report.json
  table     combine the reports of 'make bench' into a table and a JSON file

Load goes only to loopback addresses unless -allow-remote. Every run
writes report.json, report.html and sent.jsonl into its -out directory.
Run 'wagw loadtest <command> -h' for flags.
`

// runLoadtest is `wagw loadtest …`.
func runLoadtest(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, loadtestUsage)
		return errors.New("loadtest: no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return loadtestRun(ctx, rest, getenv, stdout)
	case "generate":
		return loadtestGenerate(rest, getenv, stdout)
	case "replay":
		return loadtestReplay(ctx, rest, getenv, stdout)
	case "verify":
		return loadtestVerify(ctx, rest, getenv, stdout)
	case "setup":
		return loadtestSetup(ctx, rest, getenv, stdout)
	case "noop":
		return loadtestNoop(ctx, rest, stdout)
	case "report":
		return loadtestReport(rest, stdout)
	case "table":
		return loadtestTable(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, loadtestUsage)
		return nil
	}
	fmt.Fprint(stdout, loadtestUsage)
	return fmt.Errorf("loadtest: unknown command %q", cmd)
}

// ---------------------------------------------------------------- flags

// ltFlags are the flags shared by the commands that send or verify.
type ltFlags struct {
	fs       *flag.FlagSet
	getenv   func(string) string
	settings map[string]string

	// target
	url, secret, dataDir string
	allowRemote          bool
	// runner
	closed              bool
	connections, inflt  int
	duration            time.Duration
	requests            int
	timeout, drainLimit time.Duration
	maxErrors           string
	quiet               bool
	out                 string
	// verification
	verify, dbURL, apiURL, token string
	settle                       time.Duration
	expectWelcome                bool
	expectStatuses               bool
	expectAssigned               bool
	maxSpread, maxOffenders      int
	name                         string
	// run -save
	onSend  func(loadtest.Request)
	saveErr error
}

func newLTFlags(name string, getenv func(string) string, out io.Writer) *ltFlags {
	f := &ltFlags{fs: flag.NewFlagSet("wagw loadtest "+name, flag.ContinueOnError), getenv: getenv}
	f.fs.SetOutput(out)
	return f
}

func (f *ltFlags) env(k, def string) string {
	if v := strings.TrimSpace(f.getenv(k)); v != "" {
		return v
	}
	return def
}

func (f *ltFlags) targetFlags() {
	f.fs.StringVar(&f.url, "url", loadtest.DefaultTarget, "webhook URL of the target (a loopback address unless -allow-remote)")
	f.fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target that is not on this machine")
	f.fs.StringVar(&f.secret, "secret", "", "app secret that signs the bodies (default WA_APP_SECRET, else the dev secret in -data)")
	f.fs.StringVar(&f.dataDir, "data", f.env("WAGW_DATA_DIR", defaultDataDir), "serve's data dir, where its development secrets are (WAGW_DATA_DIR)")
}

func (f *ltFlags) runnerFlags() {
	f.fs.BoolVar(&f.closed, "closed", false, "closed loop: -connections workers send back to back (the ingest ceiling)")
	f.fs.IntVar(&f.connections, "connections", loadtest.DefaultConnections, "closed-loop connections")
	f.fs.IntVar(&f.inflt, "max-inflight", loadtest.DefaultMaxInFlight, "open loop: most requests in flight")
	f.fs.DurationVar(&f.duration, "duration", 0, "stop sending after this long")
	f.fs.IntVar(&f.requests, "requests", 0, "stop after this many requests")
	f.fs.DurationVar(&f.timeout, "timeout", loadtest.DefaultTimeout, "timeout of one request")
	f.fs.DurationVar(&f.drainLimit, "drain-timeout", loadtest.DefaultDrainTimeout, "how long to wait for the consumer after the load")
	f.fs.StringVar(&f.maxErrors, "max-errors", "0", "failed requests (not 2xx) the run may have and still pass: a count, or a percentage like 1%")
	f.fs.BoolVar(&f.quiet, "quiet", false, "no progress line each second")
	f.fs.StringVar(&f.out, "out", "", "report directory (default loadtest-out/<time>)")
	f.fs.StringVar(&f.name, "name", "", "name of the run in the report")
}

func (f *ltFlags) verifyFlags() {
	f.fs.StringVar(&f.verify, "verify", "auto", "how to verify: sql (DATABASE_URL), api (WAGW_ADMIN_TOKEN), none, or auto (sql when Postgres answers, else api)")
	f.fs.StringVar(&f.dbURL, "db", f.env("DATABASE_URL", db.DefaultURL), "Postgres of the target, read only (DATABASE_URL)")
	f.fs.StringVar(&f.apiURL, "api", "", "API base URL (default: the target's scheme and host)")
	f.fs.StringVar(&f.token, "token", "", "admin bearer token (default WAGW_ADMIN_TOKEN, else the dev token in -data)")
	f.fs.DurationVar(&f.settle, "settle", loadtest.DefaultSettle, "how long to wait for the consumer to store every acknowledged message")
	f.fs.BoolVar(&f.expectWelcome, "expect-welcome", false, "every opened conversation must have exactly one welcome message")
	f.fs.BoolVar(&f.expectStatuses, "expect-statuses", false, "every sent welcome must have its statuses applied (simulator)")
	f.fs.BoolVar(&f.expectAssigned, "expect-assigned", false, "every opened conversation must be assigned")
	f.fs.IntVar(&f.maxSpread, "max-spread", -1, "fail when conversations per agent differ by more than this (-1: no check)")
	f.fs.IntVar(&f.maxOffenders, "max-offenders", loadtest.DefaultMaxOffenders, "offenders listed per failed check")
}

func (f *ltFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	f.settings = map[string]string{}
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name != "secret" && fl.Name != "token" && fl.Name != "db" {
			f.settings[fl.Name] = fl.Value.String()
		}
	})
	return nil
}

func (f *ltFlags) appSecret() []byte {
	s := f.secret
	if s == "" {
		s = strings.TrimSpace(strings.Split(f.getenv("WA_APP_SECRET"), ",")[0])
	}
	if s == "" {
		s = readDevSecrets(f.dataDir).AppSecret
	}
	return []byte(s)
}

func (f *ltFlags) adminToken() string {
	t := f.token
	if t == "" {
		t = strings.TrimSpace(f.getenv("WAGW_ADMIN_TOKEN"))
	}
	if t == "" {
		t = readDevSecrets(f.dataDir).AdminToken
	}
	return t
}

func (f *ltFlags) outDir() string {
	if f.out == "" {
		f.out = filepath.Join("loadtest-out", time.Now().Format("20060102-150405"))
	}
	return f.out
}

func (f *ltFlags) progress(stdout io.Writer) io.Writer {
	if f.quiet {
		return nil
	}
	return stdout
}

func (f *ltFlags) apiBase() string {
	if f.apiURL != "" {
		return strings.TrimRight(f.apiURL, "/")
	}
	u, err := url.Parse(f.url)
	if err != nil || u.Host == "" {
		return loadtest.DefaultAPI
	}
	return u.Scheme + "://" + u.Host
}

// verifier opens what -verify selects. The returned close func is never nil.
func (f *ltFlags) verifier(ctx context.Context, stdout io.Writer) (loadtest.Store, string, func(), error) {
	nop := func() {}
	mode := f.verify
	if mode == "none" {
		return nil, "", nop, nil
	}
	if mode == "auto" || mode == "sql" {
		st, err := openLoadStore(ctx, f.dbURL)
		if err == nil {
			return st, "sql", func() { st.Close() }, nil
		}
		if mode == "sql" {
			return nil, "", nop, err
		}
		fmt.Fprintf(stdout, "verify: Postgres not reachable (%v); trying the API\n", err)
	}
	if mode == "auto" || mode == "api" {
		tok := f.adminToken()
		if tok == "" {
			if mode == "api" {
				return nil, "", nop, errors.New("loadtest: -verify api needs -token or WAGW_ADMIN_TOKEN")
			}
			fmt.Fprintln(stdout, "verify: no database and no admin token: the run will not be verified")
			return nil, "", nop, nil
		}
		return &loadtest.APIStore{Base: f.apiBase(), Token: tok}, "api", nop, nil
	}
	return nil, "", nop, fmt.Errorf("loadtest: -verify %q: want auto, sql, api or none", mode)
}

func (f *ltFlags) verifyConfig(st loadtest.Store, source string, base loadtest.Baseline, stdout io.Writer) loadtest.VerifyConfig {
	return loadtest.VerifyConfig{Store: st, Source: source, Baseline: base, Settle: f.settle,
		ExpectWelcome: f.expectWelcome, ExpectStatuses: f.expectStatuses, ExpectAssigned: f.expectAssigned,
		MaxSpread: f.maxSpread, MaxOffenders: f.maxOffenders, Progress: f.progress(stdout)}
}

// ---------------------------------------------------------------- generator flags

type genFlags struct {
	cfg     loadtest.GenConfig
	inboxes string
	start   string
}

func (g *genFlags) register(fs *flag.FlagSet, seedDefault uint64) {
	fs.Uint64Var(&g.cfg.Seed, "seed", seedDefault, "seed of the traffic (same seed, same bytes; 0: random)")
	fs.StringVar(&g.cfg.Profile, "profile", loadtest.ProfileRealistic, "traffic profile: realistic, or single (one unique text message per POST)")
	fs.IntVar(&g.cfg.Contacts, "contacts", loadtest.DefaultGenContacts, "number of contacts")
	fs.Float64Var(&g.cfg.Skew, "skew", loadtest.DefaultGenSkew, "activity skew of contacts (Zipf exponent; larger: a few contacts write more)")
	fs.StringVar(&g.inboxes, "inboxes", loadtest.DefaultGenInbox, "business phone_number_ids, comma-separated")
	fs.Float64Var(&g.cfg.Rate, "rate", loadtest.DefaultGenRate, "webhook POSTs per second")
	fs.BoolVar(&g.cfg.Poisson, "poisson", false, "Poisson arrivals (exponential gaps) instead of a fixed interval")
	fs.Float64Var(&g.cfg.BatchShare, "batch-share", loadtest.DefaultGenBatchShare, "share of POSTs carrying several messages")
	fs.IntVar(&g.cfg.BatchMin, "batch-min", 2, "fewest messages in a batch")
	fs.IntVar(&g.cfg.BatchMax, "batch-max", loadtest.DefaultGenBatchMax, "most messages in a batch")
	fs.Float64Var(&g.cfg.BurstShare, "burst-share", loadtest.DefaultGenBurstShare, "share of messages that start a burst from one contact")
	fs.IntVar(&g.cfg.BurstMax, "burst-max", loadtest.DefaultGenBurstMax, "longest burst")
	fs.Float64Var(&g.cfg.StatusShare, "status-share", loadtest.DefaultGenStatusShare, "share of POSTs carrying late, out-of-order statuses")
	fs.Float64Var(&g.cfg.RedeliverShare, "redeliver", loadtest.DefaultGenRedeliverShare, "share of POSTs that are exact redeliveries")
	fs.Float64Var(&g.cfg.BSUIDShare, "bsuid-share", loadtest.DefaultGenBSUIDShare, "share of contacts known only by a business-scoped user id")
	fs.Float64Var(&g.cfg.RoutingShare, "routing-share", 0, "share of contacts whose thread an AI agent owns at first (Conversation Routing: handovers, standby messages and echoes)")
}

// config turns flags into a GenConfig: an explicit 0 share means none, and
// the single profile leaves out what it does not have unless asked.
func (g *genFlags) config(fs *flag.FlagSet) (loadtest.GenConfig, error) {
	c := g.cfg
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range map[string]*float64{"batch-share": &c.BatchShare, "burst-share": &c.BurstShare,
		"status-share": &c.StatusShare, "redeliver": &c.RedeliverShare, "bsuid-share": &c.BSUIDShare} {
		if c.Profile == loadtest.ProfileSingle && !set[name] {
			*v = -1
		} else if *v == 0 {
			*v = -1
		}
	}
	switch c.Profile {
	case loadtest.ProfileRealistic, loadtest.ProfileSingle:
	default:
		return c, fmt.Errorf("loadtest: -profile %q: want realistic or single", c.Profile)
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64N(1<<53) + 1
	}
	c.Inboxes = splitList(g.inboxes)
	if g.start != "" {
		t, err := time.Parse(time.RFC3339, g.start)
		if err != nil {
			return c, fmt.Errorf("loadtest: -start: %w", err)
		}
		c.Start = t
	}
	return c, nil
}

// boundedSource applies a -requests or -duration bound to a generator for
// the generate command.
type boundedSource struct {
	src      loadtest.Source
	requests int
	duration time.Duration
	n        int
}

func (b *boundedSource) Next() (loadtest.Request, bool) {
	if b.requests > 0 && b.n >= b.requests {
		return loadtest.Request{}, false
	}
	r, ok := b.src.Next()
	if !ok || (b.duration > 0 && r.At >= b.duration) {
		return loadtest.Request{}, false
	}
	b.n++
	return r, true
}

// ---------------------------------------------------------------- run, replay

func loadtestRun(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newLTFlags("run", getenv, stdout)
	f.targetFlags()
	f.runnerFlags()
	f.verifyFlags()
	var g genFlags
	g.register(f.fs, 0)
	save := f.fs.String("save", "", "also write the generated traffic to this capture file, to replay it later")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.duration <= 0 && f.requests <= 0 {
		f.duration = 10 * time.Second
	}
	gc, err := g.config(f.fs)
	if err != nil {
		return err
	}
	start := time.Now().Add(200 * time.Millisecond)
	gc.Start = start
	gen := loadtest.NewGenerator(gc)
	gc = gen.Config()
	f.settings["seed"] = strconv.FormatUint(gc.Seed, 10)
	f.settings["run_id"] = gc.RunID
	if *save != "" {
		file, err := os.Create(*save)
		if err != nil {
			return err
		}
		defer file.Close()
		cw := loadtest.NewCaptureWriter(file, start, nil)
		var mu sync.Mutex
		f.onSend = func(r loadtest.Request) {
			mu.Lock()
			defer mu.Unlock()
			if err := cw.Write(r); err != nil && f.saveErr == nil {
				f.saveErr = err
			}
		}
		defer func() {
			if err := cw.Flush(); err != nil {
				fmt.Fprintf(stdout, "loadtest: saving the traffic to %s failed: %v\n", *save, err)
			} else if f.saveErr != nil {
				fmt.Fprintf(stdout, "loadtest: saving the traffic to %s failed: %v\n", *save, f.saveErr)
			}
		}()
	}
	return f.send(ctx, "wagw loadtest run", gen, start, stdout)
}

func loadtestReplay(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newLTFlags("replay", getenv, stdout)
	f.targetFlags()
	f.runnerFlags()
	f.verifyFlags()
	speed := f.fs.Float64("speed", 1, "pace: 1 the original, 2 twice as fast, 0 as fast as possible (closed loop)")
	f.fs.Usage = func() {
		fmt.Fprintln(f.fs.Output(), "usage: wagw loadtest replay [flags] FILE...")
		f.fs.PrintDefaults()
	}
	if err := f.parse(args); err != nil {
		return err
	}
	files := f.fs.Args()
	if len(files) == 0 {
		return errors.New("loadtest replay: name the capture file(s) to send")
	}
	if *speed <= 0 {
		f.closed = true
	}
	rp, err := loadtest.OpenReplay(files, *speed)
	if err != nil {
		return err
	}
	defer rp.Close()
	f.settings["files"] = strings.Join(files, " ")
	err = f.send(ctx, "wagw loadtest replay", rp, time.Time{}, stdout)
	if rerr := rp.Err(); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// noteNotVerified is the note of a run sent without verification; verify
// removes it.
const noteNotVerified = "not verified (-verify none, or no database or token)"

// send runs the load, verifies it and writes the report.
func (f *ltFlags) send(ctx context.Context, command string, src loadtest.Source, start time.Time, stdout io.Writer) error {
	target, err := loadtest.CheckTarget(f.url, f.allowRemote)
	if err != nil {
		return err
	}
	f.url = target
	budget, err := loadtest.ParseErrorBudget(f.maxErrors)
	if err != nil {
		return fmt.Errorf("loadtest: -max-errors: %w", err)
	}
	secret := f.appSecret()
	if len(secret) == 0 {
		return errors.New("loadtest: no app secret: give -secret, WA_APP_SECRET, or -data with serve's dev-secrets.json")
	}
	st, source, closeStore, err := f.verifier(ctx, stdout)
	if err != nil {
		return err
	}
	defer closeStore()
	heard := watchCommits(st, stdout)
	rep := &loadtest.Report{Name: f.name, Command: command, CreatedAt: time.Now(), Host: loadtest.ThisHost(), Settings: f.settings}
	var base loadtest.Baseline
	cfg := loadtest.RunConfig{URL: target, AllowRemote: f.allowRemote, Secret: secret, Closed: f.closed,
		Connections: f.connections, MaxInFlight: f.inflt, Duration: f.duration, Requests: f.requests,
		Timeout: f.timeout, Start: start, Progress: f.progress(stdout), DrainTimeout: f.drainLimit, OnSend: f.onSend}
	if st != nil {
		if base, err = st.Baseline(ctx); err != nil {
			return fmt.Errorf("loadtest: baseline: %w", err)
		}
		rep.Baseline = &base
		if source == "sql" {
			cfg.Stored = func(ctx context.Context) (int64, error) { return st.CountInbound(ctx, base) }
		}
	}
	desc := describeLoad(cfg)
	if seed := f.settings["seed"]; seed != "" {
		desc += "; seed " + seed + " (same seed and flags: same traffic)"
	}
	fmt.Fprintf(stdout, "%s: sending to %s (%s)\n", command, target, desc)
	idle := &idleAnswers{w: log.Writer()}
	log.SetOutput(idle)
	res, err := loadtest.Run(ctx, cfg, src)
	log.SetOutput(idle.w)
	if res == nil {
		return err
	}
	rep.Run = res
	if n := idle.n.Load(); n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d connections were answered before they carried a request "+
			"(the server's connection cap answering 503 and closing them: a request waiting for a reused connection "+
			"is sent on another, one waiting for a new connection fails and is counted as refused)", n))
	}
	if len(res.Unclassified) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d requests failed with an error the generator does not classify; for example: %s",
			res.Codes["error"], strings.Join(res.Unclassified, "; ")))
	}
	rep.Checks = loadtest.RunChecks(res, budget)
	dir := f.outDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if werr := writeSentLog(filepath.Join(dir, loadtest.SentLog), res, rep.Baseline); werr != nil {
		return werr
	}
	if err != nil { // interrupted: report what was sent, skip verification
		rep.Notes = append(rep.Notes, "interrupted: "+err.Error())
	} else if st != nil {
		vcfg := f.verifyConfig(st, source, base, stdout)
		vcfg.HeardCommits = heard
		v, verr := loadtest.Verify(ctx, vcfg, res)
		if verr != nil {
			rep.Notes = append(rep.Notes, "verification did not complete: "+verr.Error())
			err = verr
		}
		rep.Verify = v
	} else {
		rep.Notes = append(rep.Notes, noteNotVerified)
	}
	return finishReport(rep, dir, stdout, err)
}

func describeLoad(c loadtest.RunConfig) string {
	var parts []string
	if c.Closed {
		parts = append(parts, fmt.Sprintf("closed loop, %d connections", c.Connections))
	} else {
		parts = append(parts, "open loop")
	}
	if c.Duration > 0 {
		parts = append(parts, "for "+c.Duration.String())
	}
	if c.Requests > 0 {
		parts = append(parts, fmt.Sprintf("at most %d requests", c.Requests))
	}
	return strings.Join(parts, ", ")
}

func writeSentLog(path string, res *loadtest.RunResult, base *loadtest.Baseline) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := loadtest.WriteSentLog(file, res, base); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// finishReport writes the report files, prints the summary, and turns a
// failed verification into the command's error.
func finishReport(rep *loadtest.Report, dir string, stdout io.Writer, err error) error {
	if werr := rep.WriteFiles(dir); werr != nil && err == nil {
		err = werr
	}
	rep.WriteSummary(stdout)
	fmt.Fprintf(stdout, "\nreport: %s  %s  %s\n", filepath.Join(dir, loadtest.ReportHTML),
		filepath.Join(dir, loadtest.ReportJSON), filepath.Join(dir, loadtest.SentLog))
	if err != nil {
		return err
	}
	if !rep.Passed() {
		return fmt.Errorf("loadtest: the run failed: %s", strings.Join(rep.Failures(), "; "))
	}
	return nil
}

// ---------------------------------------------------------------- generate

func loadtestGenerate(args []string, getenv func(string) string, stdout io.Writer) error {
	f := newLTFlags("generate", getenv, stdout)
	var g genFlags
	g.register(f.fs, 1)
	f.fs.StringVar(&g.start, "start", "", "time of the first webhook, RFC 3339 (default now); with -seed it makes the output byte-identical")
	out := f.fs.String("o", "-", "capture file to write (- for standard output)")
	f.fs.DurationVar(&f.duration, "duration", 0, "length of the traffic (at -rate)")
	f.fs.IntVar(&f.requests, "requests", 0, "number of webhook POSTs")
	f.fs.StringVar(&f.secret, "secret", "", "also sign each line with this app secret (replay signs again anyway)")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.duration <= 0 && f.requests <= 0 {
		return errors.New("loadtest generate: bound the traffic with -duration or -requests")
	}
	gc, err := g.config(f.fs)
	if err != nil {
		return err
	}
	gen := loadtest.NewGenerator(gc)
	gc = gen.Config()
	var w io.Writer = stdout
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	cw := loadtest.NewCaptureWriter(w, gc.Start, []byte(f.secret))
	src := &boundedSource{src: gen, requests: f.requests, duration: f.duration}
	msgs, sts := 0, 0
	for {
		r, ok := src.Next()
		if !ok {
			break
		}
		if err := cw.Write(r); err != nil {
			return err
		}
		if !r.Redelivery {
			msgs += len(r.Messages)
			sts += len(r.Statuses)
		}
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(stdout, "wrote %d webhooks (%d messages, %d statuses) to %s; seed %d, run id %s\n",
			cw.Count(), msgs, sts, *out, gc.Seed, gc.RunID)
	}
	return nil
}

// ---------------------------------------------------------------- verify

func loadtestVerify(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newLTFlags("verify", getenv, stdout)
	f.targetFlags()
	f.verifyFlags()
	f.fs.StringVar(&f.out, "dir", "", "the run's report directory (holds sent.jsonl); required")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.out == "" {
		return errors.New("loadtest verify: give -dir, the report directory of the run")
	}
	file, err := os.Open(filepath.Join(f.out, loadtest.SentLog))
	if err != nil {
		return err
	}
	res, base, err := loadtest.ReadSentLog(file)
	file.Close()
	if err != nil {
		return err
	}
	if f.url == loadtest.DefaultTarget && res.Target != "" {
		f.url = res.Target
	}
	rep, err := loadtest.ReadReport(filepath.Join(f.out, loadtest.ReportJSON))
	if err != nil {
		rep = &loadtest.Report{Command: "wagw loadtest verify", Host: loadtest.ThisHost()}
	}
	rep.Run = mergeRun(rep.Run, res)
	rep.CreatedAt = time.Now()
	if base == nil {
		base = &loadtest.Baseline{}
	}
	rep.Baseline = base
	if f.verify == "none" {
		return errors.New("loadtest verify: -verify none leaves nothing to do")
	}
	st, source, closeStore, err := f.verifier(ctx, stdout)
	if err != nil {
		return err
	}
	defer closeStore()
	if st == nil {
		return errors.New("loadtest verify: no database and no admin token to verify with")
	}
	v, err := loadtest.Verify(ctx, f.verifyConfig(st, source, *base, stdout), res)
	if err != nil {
		return err
	}
	rep.Verify = keepHeard(rep.Verify, v)
	rep.Notes = slices.DeleteFunc(rep.Notes, func(n string) bool { return n == noteNotVerified })
	return finishReport(rep, f.out, stdout, nil)
}

// mergeRun keeps the summary a run measured live (polled drain and lag)
// and the records read back from its sent log.
func mergeRun(old, fromLog *loadtest.RunResult) *loadtest.RunResult {
	if old == nil {
		return fromLog
	}
	old.Requests = fromLog.Requests
	return old
}

// loadtestReport re-renders a run's report from its report.json.
func loadtestReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wagw loadtest report", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dir := fs.String("dir", "", "the run's report directory; required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("loadtest report: give -dir")
	}
	rep, err := loadtest.ReadReport(filepath.Join(*dir, loadtest.ReportJSON))
	if err != nil {
		return err
	}
	return finishReport(rep, *dir, stdout, nil)
}
