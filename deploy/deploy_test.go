//go:build e2e

package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"dssd/binding/ops"
	"dssd/dss/metrics"
	"dssd/hsm/soft"
)

// requireTool returns the path of a command, or fails naming the Debian package that has it
// (`bash .ci/deps.sh test` installs it).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is missing: apt-get install %s (bash .ci/deps.sh test installs it)", name, pkg)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dockerInstructions returns the instructions of a Dockerfile, continuation lines joined and
// comments dropped, each as [keyword, rest].
func dockerInstructions(t *testing.T, path string) [][2]string {
	t.Helper()
	var out [][2]string
	var cur strings.Builder
	for _, line := range strings.Split(string(read(t, path)), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		kw, rest, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
		cur.Reset()
	}
	return out
}

// No container engine runs on the build machine (docs/deploy.md), so the Dockerfile is checked
// for the properties the image must have.
func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t, "Dockerfile")
	var froms []string
	var final [][2]string // instructions of the last stage
	for _, in := range ins {
		if in[0] == "FROM" {
			froms = append(froms, in[1])
			final = nil
		}
		final = append(final, in)
	}
	if len(froms) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(froms))
	}
	if !strings.Contains(froms[0], "golang:") || !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("first stage %q: want the Go toolchain, named build", froms[0])
	}
	last := froms[len(froms)-1]
	// crypto11 needs cgo: the binary needs glibc (and vendor modules libstdc++) at run time.
	if !strings.HasPrefix(last, "gcr.io/distroless/cc-debian12") || strings.Contains(last, "golang") {
		t.Errorf("runtime base %q: want distroless cc (glibc, libstdc++, no shell)", last)
	}
	if !strings.Contains(froms[0], "bookworm") {
		t.Errorf("builder %q is not Debian 12 like the runtime: the glibc versions may differ", froms[0])
	}
	all := func(kw string, in [][2]string) []string {
		var v []string
		for _, i := range in {
			if i[0] == kw {
				v = append(v, i[1])
			}
		}
		return v
	}
	builds := strings.Join(all("RUN", ins), "\n")
	for _, want := range []string{"CGO_ENABLED=1", "-trimpath", "./cmd/dssd", "-X main.version="} {
		if !strings.Contains(builds, want) {
			t.Errorf("the build does not use %q", want)
		}
	}
	if r := all("RUN", final); len(r) > 0 {
		t.Errorf("the runtime stage runs commands (%q): distroless has no shell", r)
	}
	users := all("USER", final)
	if len(users) != 1 {
		t.Fatalf("runtime USER instructions %q, want one", users)
	}
	uid, _, _ := strings.Cut(users[0], ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid (Kubernetes runAsNonRoot checks numbers)", users[0])
	}
	if e := all("ENTRYPOINT", final); len(e) != 1 || !strings.Contains(e[0], "/dssd") {
		t.Errorf("ENTRYPOINT %q, want the dssd binary", e)
	}
	for _, c := range all("COPY", final) {
		if !strings.HasPrefix(c, "--from=build ") {
			t.Errorf("runtime COPY %q takes something from outside the build stage", c)
		}
	}
	if a := all("ADD", ins); len(a) > 0 {
		t.Errorf("ADD %q: use COPY (ADD fetches URLs and unpacks archives)", a)
	}
	ignore := string(read(t, "Dockerfile.dockerignore"))
	for _, want := range []string{".git", "var", "**/node_modules"} {
		if !slices.Contains(strings.Split(ignore, "\n"), want) {
			t.Errorf("Dockerfile.dockerignore does not exclude %s", want)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for dssd\.service: ([0-9.]+)`)

func TestSystemdUnit(t *testing.T) {
	sa := requireTool(t, "systemd-analyze", "systemd")
	// verify checks that ExecStart names an executable: point it at one.
	dir := t.TempDir()
	bin := filepath.Join(dir, "dssd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(read(t, "systemd/dssd.service")), "/usr/local/bin/dssd", bin)
	path := filepath.Join(dir, "dssd.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := run(t, dir, sa, "verify", path); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify is not clean:\n%s", out)
	}
	out := run(t, dir, sa, "security", "--offline=true", path)
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	if score > 2.0 {
		t.Errorf("systemd-analyze security: exposure %.1f, want at most 2.0 (\"OK\")\n%s", score, out)
	}
	// The documented figure is the measured one.
	doc := string(read(t, "../docs/deploy.md"))
	if want := "exposure level " + m[1]; !strings.Contains(doc, want) {
		t.Errorf("docs/deploy.md does not record %q", want)
	}
	if want := "scores it " + m[1]; !strings.Contains(unit, want) {
		t.Errorf("the unit's header does not record %q", want)
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(read(t, path)))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// get walks a decoded YAML value along keys (map keys, or list indexes as numbers).
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k.(string)]
		case []any:
			i, ok := k.(int)
			if !ok || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func list(v any) []any { l, _ := v.([]any); return l }

func TestKubernetes(t *testing.T) {
	kust := yamlDocs(t, "kubernetes/kustomization.yaml")[0]
	byKind := map[string]map[string]any{}
	for _, f := range list(kust["resources"]) {
		for _, d := range yamlDocs(t, filepath.Join("kubernetes", f.(string))) {
			kind, _ := d["kind"].(string)
			if d["apiVersion"] == nil || kind == "" || get(d, "metadata", "name") == nil {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			byKind[kind] = d
		}
	}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) != len(list(kust["resources"]))+1 {
		t.Errorf("kustomization.yaml lists %d resources; the directory has %d other files", len(list(kust["resources"])), len(files)-1)
	}
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} {
		if byKind[k] == nil {
			t.Fatalf("no %s", k)
		}
	}
	dep := byKind["Deployment"]
	if n, _ := get(dep, "spec", "replicas").(int); n < 2 {
		t.Errorf("replicas %v, want several", get(dep, "spec", "replicas"))
	}
	pod := get(dep, "spec", "template", "spec")
	podLabels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	matches := func(sel any) bool {
		m, ok := sel.(map[string]any)
		if !ok || len(m) == 0 {
			return false
		}
		for k, v := range m {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	if !matches(get(dep, "spec", "selector", "matchLabels")) || !matches(get(byKind["Service"], "spec", "selector")) ||
		!matches(get(byKind["PodDisruptionBudget"], "spec", "selector", "matchLabels")) {
		t.Error("the Deployment, Service and PodDisruptionBudget selectors do not all select the pods")
	}
	pdb := get(byKind["PodDisruptionBudget"], "spec")
	if get(pdb, "maxUnavailable") == nil && get(pdb, "minAvailable") == nil {
		t.Error("the PodDisruptionBudget bounds nothing")
	}
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if uid, _ := get(pod, "securityContext", "runAsUser").(int); uid == 0 {
		t.Error("pod securityContext.runAsUser is root or unset")
	}
	if get(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Error("no RuntimeDefault seccomp profile")
	}
	if get(pod, "automountServiceAccountToken") != false {
		t.Error("the service account token is mounted (dssd does not call the API server)")
	}
	secretVolumes := map[string]bool{}
	for _, v := range list(get(pod, "volumes")) {
		if get(v, "secret") != nil {
			secretVolumes[get(v, "name").(string)] = true
		}
	}
	containers := append(list(get(pod, "initContainers")), list(get(pod, "containers"))...)
	var dssd any
	for _, c := range containers {
		if get(c, "name") == "dssd" {
			dssd = c
		}
		sc := get(c, "securityContext")
		if get(sc, "allowPrivilegeEscalation") != false || get(sc, "readOnlyRootFilesystem") != true ||
			!slices.Contains(list(get(sc, "capabilities", "drop")), any("ALL")) {
			t.Errorf("container %v: securityContext must forbid privilege escalation, make the root filesystem read-only and drop ALL capabilities", get(c, "name"))
		}
		for _, e := range list(get(c, "env")) {
			name := strings.ToUpper(get(e, "name").(string))
			for _, s := range []string{"PIN", "DSN", "PASSWORD", "TOKEN", "KEY", "SECRET"} {
				if strings.Contains(name, s) {
					t.Errorf("container %v: secret-looking variable %s: secrets are files", get(c, "name"), name)
				}
			}
		}
	}
	if dssd == nil {
		t.Fatal("no container named dssd")
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := get(dssd, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
		if get(dssd, probe, "httpGet", "scheme") != "HTTPS" {
			t.Errorf("%s does not use HTTPS (dssd serves TLS only)", probe)
		}
	}
	mounts := map[string]string{} // mount path -> volume
	for _, m := range list(get(dssd, "volumeMounts")) {
		name, path := get(m, "name").(string), get(m, "mountPath").(string)
		mounts[path] = name
		if secretVolumes[name] && get(m, "readOnly") != true {
			t.Errorf("secret volume %s is mounted writable", name)
		}
	}

	// The configuration names its secrets as files inside mounted Secrets.
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(get(byKind["ConfigMap"], "data", "dssd.yaml").(string)), &cfg); err != nil {
		t.Fatalf("dssd.yaml in the ConfigMap: %v", err)
	}
	if get(cfg, "store", "type") != "postgres" {
		t.Errorf("store.type %v: several replicas need PostgreSQL", get(cfg, "store", "type"))
	}
	inSecret := func(p string) bool {
		for mp, vol := range mounts {
			if secretVolumes[vol] && strings.HasPrefix(p, mp+"/") {
				return true
			}
		}
		return false
	}
	for _, field := range [][]any{
		{"hsm", "pin_file"}, {"store", "dsn_file"}, {"store", "audit_key_file"}, {"sad", "key_file"},
		{"listen", "tls", "key"},
	} {
		p, _ := get(cfg, field...).(string)
		if !inSecret(p) {
			t.Errorf("%v = %q is not a file of a mounted Secret", field, p)
		}
	}
	if get(cfg, "hsm", "pin_env") != nil || get(cfg, "store", "dsn_env") != nil {
		t.Error("secrets from environment variables: use files")
	}
}

// alertNames returns the alerts of a rules file.
func alertNames(t *testing.T) []string {
	var names []string
	for _, g := range list(yamlDocs(t, "prometheus/dssd-alerts.yml")[0]["groups"]) {
		for _, r := range list(get(g, "rules")) {
			if a, ok := get(r, "alert").(string); ok {
				names = append(names, a)
			}
		}
	}
	return names
}

func TestAlertRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	out := run(t, "prometheus", promtool, "check", "rules", "dssd-alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	out = run(t, "prometheus", promtool, "test", "rules", "dssd-alerts.test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
	names := alertNames(t)
	// The alerts issue 14 asks for.
	for _, want := range []string{"DssdSignatureSelfCheckFailed", "DssdHSMDown", "DssdAuthorityFailing",
		"DssdTimestampsFailing", "DssdAuditCommitFailing", "DssdHighErrorRate"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
	// Every alert is exercised by the unit tests.
	tested := map[string]bool{}
	for _, tc := range list(yamlDocs(t, "prometheus/dssd-alerts.test.yml")[0]["tests"]) {
		for _, a := range list(get(tc, "alert_rule_test")) {
			if len(list(get(a, "exp_alerts"))) > 0 {
				tested[get(a, "alertname").(string)] = true
			}
		}
	}
	for _, n := range names {
		if !tested[n] {
			t.Errorf("alert %s has no promtool test where it fires", n)
		}
	}
}

// dashboardExprs returns every PromQL expression of the Grafana dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(read(t, "grafana/dssd.json"), &d); err != nil {
		t.Fatalf("grafana/dssd.json: %v", err)
	}
	if d.UID == "" {
		t.Error("the dashboard has no uid")
	}
	var exprs []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	return exprs
}

// The dashboard's queries are valid PromQL: promtool parses them as recording rules, with
// Grafana's variables replaced.
func TestDashboard(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	exprs := dashboardExprs(t)
	if len(exprs) < 15 {
		t.Errorf("%d queries: the dashboard lost its panels", len(exprs))
	}
	r := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$job", ".*")
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": "dashboard:query" + strconv.Itoa(i), "expr": r.Replace(e)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, promtool, "check", "rules", "dashboard.yml")
}

var (
	descNameRE = regexp.MustCompile(`fqName: "([a-z_:]+)"`)
	dssdNameRE = regexp.MustCompile(`\bdssd_[a-z_]+`)
)

type rebuildingKM struct{ *soft.KeyManager }

func (rebuildingKM) Rebuilds() uint64 { return 0 }

// Every dssd_* name in the alerts, their tests, the dashboard and docs/deploy.md is one dssd
// exports: a renamed metric cannot leave a silent alert behind.
func TestMetricNamesExist(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.KeyManager(rebuildingKM{soft.New()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.NewHTTPMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := metrics.BuildInfo(reg, "v", "go"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(metrics.NewHSMState()); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	for d := range ch {
		mm := descNameRE.FindStringSubmatch(d.String())
		if mm == nil {
			t.Fatalf("unparsable descriptor %s", d)
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			known[mm[1]+suffix] = true
		}
	}
	if len(known) < 4*20 {
		t.Fatalf("only %d names known: the registry lost families", len(known)/4)
	}
	sources := map[string]string{
		"alerts":     string(read(t, "prometheus/dssd-alerts.yml")),
		"alert test": string(read(t, "prometheus/dssd-alerts.test.yml")),
		"dashboard":  strings.Join(dashboardExprs(t), "\n"),
		"deploy.md":  string(read(t, "../docs/deploy.md")),
	}
	for src, text := range sources {
		for _, name := range dssdNameRE.FindAllString(text, -1) {
			if !known[name] {
				t.Errorf("%s uses %s, which dssd does not export", src, name)
			}
		}
	}
}
