package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/wagw/wagw/wagwtest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	dashboardFile = "../../deploy/grafana/wagw.json"
	alertsFile    = "../../deploy/prometheus/alerts.yaml"
)

// metricName matches wagw's metric names in a query; recording rules are
// named wagw:… and do not match.
var metricName = regexp.MustCompile(`\bwagw_[a-z0-9_]+`)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// readDashboard parses deploy/grafana/wagw.json and checks what Grafana
// needs to load it: a title and uid, a Prometheus data source variable
// every query uses, unique panel ids on the 24-column grid, a query in
// every panel. It returns the dashboard's queries (panels and variables).
func readDashboard(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 {
		t.Errorf("dashboard title %q, uid %q, schemaVersion %d: want all set (schema 30 or later)", d.Title, d.UID, d.SchemaVersion)
	}
	var queries []string
	dsVar := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			dsVar = v.Name == "datasource"
		}
		if v.Definition != "" {
			queries = append(queries, v.Definition)
		}
	}
	if !dsVar {
		t.Errorf("the dashboard has no Prometheus data source variable named datasource")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: %d queries, data source %q; want queries on ${datasource}", p.Title, len(p.Targets), p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %q (refId %q, data source %q) is incomplete", p.Title, tg.Expr, tg.RefID, tg.Datasource.UID)
			}
			queries = append(queries, tg.Expr)
		}
	}
	if len(queries) < 20 {
		t.Fatalf("found only %d queries in %s", len(queries), dashboardFile)
	}
	return queries
}

// usedMetrics returns the wagw metric names in the dashboard's queries and
// in the alerting rules, with where each is used.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, q := range readDashboard(t) {
		for _, n := range metricName.FindAllString(q, -1) {
			used[n] = append(used[n], "dashboard")
		}
	}
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range metricName.FindAllString(string(rules), -1) {
		used[n] = append(used[n], "alerts")
	}
	return used
}

// scrapeFamilies GETs a /metrics page and returns each family's type and
// the page.
func scrapeFamilies(url string) (map[string]string, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s = %d", url, resp.StatusCode)
	}
	families := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		// # TYPE name type: printed only for a family with samples.
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	return families, string(body), nil
}

// exported reports whether name is a family on the page, or the _bucket,
// _sum or _count series of a histogram family.
func exported(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base] == "histogram" {
			return true
		}
	}
	return false
}

// sample returns the value of the series whose line starts with prefix.
func sample(page, prefix string) (float64, bool) {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// Every metric the Grafana dashboard and the alerting rules query is
// exported by a running serve once it has had traffic: webhooks on two
// numbers, an opened conversation assigned to an online agent, welcome
// messages sent, one number refused at account level by the Cloud API
// simulator. With WAGW_METRICS_ADDR, /metrics is served there alone, and
// neither next to /webhook nor on WAGW_HEALTH_ADDR.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	t.Parallel()
	used := usedMetrics(t)
	if len(used) < 15 {
		t.Fatalf("found only %d metric names in the dashboard and the alerts: %v", len(used), used)
	}
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	env["WAGW_METRICS_ADDR"], env["WAGW_HEALTH_ADDR"] = freeTCPAddr(t), freeTCPAddr(t)
	metricsURL := "http://" + env["WAGW_METRICS_ADDR"] + "/metrics"
	p := startServe(t, env)

	for url, want := range map[string]int{
		p.base + "/metrics": http.StatusNotFound, "http://" + env["WAGW_HEALTH_ADDR"] + "/metrics": http.StatusNotFound,
		"http://" + env["WAGW_HEALTH_ADDR"] + "/readyz": http.StatusOK, "http://" + env["WAGW_METRICS_ADDR"] + "/webhook": http.StatusNotFound,
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d with WAGW_METRICS_ADDR set, want %d", url, resp.StatusCode, want)
		}
	}

	ok, stopped := testInbox(71), testInbox(72)
	agent := createAgent(t, p, "Olga Observer", nil)
	setPresence(t, p, agent, "online")
	team := createTeam(t, p, "Observers", "round_robin", agent)
	for _, in := range []bizNumber{ok, stopped} {
		// A 1 s first-response SLA nobody meets: wagw_sla_breaches_total has a series.
		putInbox(t, p, in.pnid, obj{"name": "Obs " + in.pnid, "welcome_message": "Hello from wagw", "default_assign": obj{"team_id": team},
			"first_response_sla_seconds": 1})
	}
	faults, err := http.NewRequest(http.MethodPut, "http://"+env["WAGW_SIMULATOR_ADDR"]+"/_sim/faults?phone_number_id="+stopped.pnid,
		strings.NewReader(`{"error_codes":{"131031":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(faults); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /_sim/faults: %v %v", resp, err)
	}
	sayText(t, p, ok, "31677000001", "hello")
	sayText(t, p, stopped, "31677000002", "hello")

	var page string
	wagwtest.WaitEvery(t, 30*time.Second, 200*time.Millisecond, "every metric of the dashboard and the alerts on "+metricsURL, func() (bool, string) {
		families, body, err := scrapeFamilies(metricsURL)
		if err != nil {
			return false, err.Error()
		}
		page = body
		var missing []string
		for n, where := range used {
			if !exported(families, n) {
				missing = append(missing, n+" ("+strings.Join(slices.Compact(where), ", ")+")")
			}
		}
		slices.Sort(missing)
		stops, _ := sample(body, `wagw_relay_account_stops_total{phone_number_id="`+stopped.pnid+`"}`)
		assigned, _ := sample(body, "wagw_assignment_seconds_count")
		return len(missing) == 0 && stops >= 1 && assigned >= 2,
			fmt.Sprintf("missing %v; account stops %v, assignments %v", missing, stops, assigned)
	})
	if v, _ := sample(page, "wagw_ready"); v != 1 {
		t.Errorf("wagw_ready = %v on a serve that answers /readyz 200, want 1", v)
	}
	if v, _ := sample(page, "wagw_kafka_embedded_inprocess_connections_total"); v < 1 {
		t.Errorf("wagw_kafka_embedded_inprocess_connections_total = %v: serve's own clients did not reach the embedded broker in memory", v)
	}
	if v, _ := sample(page, `wagw_webhook_requests_total{outcome="accepted"}`); v < 2 {
		t.Errorf(`wagw_webhook_requests_total{outcome="accepted"} = %v, want at least the 2 webhooks`, v)
	}
}

// The dashboard's queries are valid PromQL: promtool checks them as
// recording rules, with Grafana's variables given values.
func TestDashboardQueriesAreValidPromQL(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: `make promtool` installs it (Debian's prometheus package)")
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", `"$job"`, `".*"`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range readDashboard(t) {
		if strings.HasPrefix(q, "label_values(") {
			continue // a Grafana function, not PromQL
		}
		expr, _ := json.Marshal(vars.Replace(q)) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, expr)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s\n%s", err, out, rules.String())
	}
}
