package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wagw/wagw/loadtest"
)

// loadtestTable reads the reports that scripts/bench.sh leaves in -dir
// and prints the scenarios of the load-testing issue with their targets
// (loadtest.BenchTable).
func loadtestTable(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wagw loadtest table", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var cfg loadtest.BenchConfig
	fs.StringVar(&cfg.Dir, "dir", "bench", "directory with the scenario report directories")
	out := fs.String("o", "", "write the results as JSON to this file")
	fs.StringVar(&cfg.Micro, "micro", "", "go test -bench output to include")
	fs.IntVar(&cfg.CeilingRounds, "t3-rounds", 0, "rounds scenario 3 ran (a round without its reports is a run missing); 0: as many as -dir holds")
	var rss multiFlag
	fs.Var(&rss, "rss", "serve's memory in kB as name=kB: t4-peak, t5-end, t5-peak (repeatable)")
	fs.StringVar(&cfg.Command, "command", "make bench", "the command that produced the results")
	var notes multiFlag
	fs.Var(&notes, "note", "a note to add (repeatable)")
	durations := fs.String("durations", "", "scenario durations, name=value comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Notes = notes
	cfg.RSSKB = map[string]int64{}
	for _, kv := range rss {
		k, v, _ := strings.Cut(kv, "=")
		kb, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("-rss %q: want name=kB", kv)
		}
		cfg.RSSKB[k] = kb
	}
	if *durations != "" {
		cfg.Durations = map[string]string{}
		for _, kv := range splitList(*durations) {
			k, v, _ := strings.Cut(kv, "=")
			cfg.Durations[k] = v
		}
	}
	res := loadtest.BenchTable(cfg)
	res.WriteTable(stdout)
	if *out == "" {
		return nil
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", *out)
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "; ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
