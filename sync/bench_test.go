//go:build unix

package sync_test

// The pass benchmarks of issue 6: a thousand mailboxes well inside one scheduler tick.
//
//	go test -run '^$' -bench BenchmarkPass -benchtime 1x ./sync/
//
// Each world is a TF database of N resources with 20 bookings each, a mapping store, and the emulator serving
// Graph, Entra ID and EWS over HTTPS in a child process with the cost model of issue 6 (25 ms per HTTP request,
// 20 ms per operation inside it, at most 4 operations of one mailbox at a time, Graph's per-mailbox limits). The
// emulator runs in its own process so that the CPU time and memory reported are tfsync's alone.
//
// Four passes run in order on each world: initial (empty calendars and store); echo (the pass right after it, whose
// change feeds carry the initial pass's own creates back); idle (nothing changed since the last pass); and change
// (1% of the bookings edited in TF and another 1% moved in the calendars). Each reports HTTP requests, operations,
// 429 answers, wall and CPU seconds and peak memory per pass. With -benchtime Nx a pass repeats N times: initial
// and echo passes start from a fresh emulator and store every time, a change pass makes fresh changes every time.

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/ews"
	"tfsync/exchange/graph"
	calsync "tfsync/sync"
	"tfsync/tf"
)

const (
	// benchEmulatorEnv, set to a mailbox count, turns the test binary into the benchmark's emulator process.
	benchEmulatorEnv = "TFSYNC_BENCH_EMULATOR"

	benchPerResource = 20 // bookings per resource
	benchChangePc    = 1  // percent of bookings edited in TF, and again moved in calendars, before a change pass
)

// The cost model of issue 6, applied by the emulator process.
var benchFaults = emulator.Faults{Latency: 25 * time.Millisecond, OpLatency: 20 * time.Millisecond}

var benchZone = func() *time.Location {
	z, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic(err)
	}
	return z
}()

// benchNow is the engine's clock: fixed, so the window and the data never drift apart.
var benchNow = time.Date(2026, 3, 20, 10, 0, 0, 0, benchZone)

// passProfile names a folder for a CPU profile of each timed pass (the -cpuprofile of go test covers the untimed
// set-up too).
var passProfile = flag.String("passprofile", "", "write a CPU profile of each timed pass into this folder")

func TestMain(m *testing.M) {
	flag.Parse()
	if n := os.Getenv(benchEmulatorEnv); n != "" {
		os.Exit(serveBenchEmulator(n))
	}
	// tfsync runs its passes with this garbage-collector target (cmd.Main); the benchmark measures the same.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cmd.GCPercent)
	}
	os.Exit(m.Run())
}

// benchRun is one world: a backend, a mode and a size.
type benchRun struct {
	backend   string // graph | ews
	mode      string // tuned: cursors and batches; naive: a full read every pass and one request per write
	resources int
}

func (r benchRun) name() string { return fmt.Sprintf("%s/%s/r%d", r.backend, r.mode, r.resources) }

// benchRuns are the worlds BenchmarkPass runs: the 500-resource scenario with tfsync's settings (tuned) and with
// naive ones, their growth from 50 resources (to 1,000 for the tuned settings; the naive first pass at 1,000 alone
// would take minutes), and the EWS backend, which has no $batch. Pick some with -bench, e.g.
// -bench 'BenchmarkPass/graph/tuned/r500'.
var benchRuns = []benchRun{
	{"graph", "tuned", 50}, {"graph", "tuned", 500}, {"graph", "tuned", 1000},
	{"graph", "naive", 50}, {"graph", "naive", 500},
	{"ews", "tuned", 50}, {"ews", "tuned", 500},
}

// figures are one pass kind's measurements, per pass.
type figures struct {
	requests, ops, throttled, changes float64
	wall, cpu, emuCPU                 float64 // seconds
	peakMB                            float64 // the process's resident memory at its highest (Linux), else goMB
	goMB                              float64 // the most memory the Go runtime held in use
}

var benchResults = struct {
	gosync.Mutex
	m map[string]figures // "graph/tuned/r500/idle"
}{m: map[string]figures{}}

func BenchmarkPass(b *testing.B) {
	for _, run := range benchRuns {
		b.Run(run.name(), func(b *testing.B) {
			w := newBenchWorld(b, run)
			defer w.close()
			for _, kind := range benchPasses {
				b.Run(kind, func(b *testing.B) { w.bench(b, kind) })
			}
		})
	}
	benchResults.Lock()
	defer benchResults.Unlock()
	if len(benchResults.m) > 0 {
		// On stdout beside the benchmark lines (b.Log would show it only with -v): this is the table
		// docs/performance.md shows.
		fmt.Printf("\nPer pass:\n\n%s\n%s", benchTable(benchResults.m), benchGoals(benchResults.m))
	}
}

// benchPasses are the pass kinds, in the order they run on a world.
var benchPasses = []string{"initial", "echo", "idle", "change"}

// worldState is where a world stands between passes.
type worldState int

const (
	stateFresh   worldState = iota // no pass yet against this emulator and store
	stateInitial                   // after the initial pass: its creates come back in the next read
	stateChanged                   // after a pass that changed a few events: their echoes come back next
	stateSettled                   // after a pass that wrote nothing
)

// benchWorld is the state a run's passes share.
type benchWorld struct {
	run     benchRun
	tfPath  string
	store   string
	emu     *benchEmulator
	state   worldState
	changes int // change rounds made so far
}

func newBenchWorld(b *testing.B, run benchRun) *benchWorld {
	b.Helper()
	dir := b.TempDir()
	w := &benchWorld{run: run, tfPath: filepath.Join(dir, "tf.db"), store: filepath.Join(dir, "state.db")}
	if err := makeBenchTF(context.Background(), w.tfPath, run.resources); err != nil {
		b.Fatalf("make the TF database: %v", err)
	}
	return w
}

func (w *benchWorld) close() {
	if w.emu != nil {
		w.emu.stop()
	}
}

// reset gives the world empty calendars and an empty store.
func (w *benchWorld) reset(b *testing.B) {
	b.Helper()
	if w.emu != nil {
		w.emu.stop()
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(w.store + suffix); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
	}
	var err error
	if w.emu, err = startBenchEmulator(w.run.resources); err != nil {
		b.Fatalf("start the emulator: %v", err)
	}
	w.state = stateFresh
}

// prepare brings the world, untimed, to where a pass of kind starts.
func (w *benchWorld) prepare(ctx context.Context, b *testing.B, kind string) {
	b.Helper()
	if kind == "initial" || kind == "echo" && w.state != stateInitial || w.emu == nil {
		w.reset(b)
	}
	if kind == "initial" {
		return
	}
	if w.state == stateFresh {
		w.check(b, "initial", w.pass(b))
		w.state = stateInitial
	}
	if kind == "echo" {
		return
	}
	if w.state == stateInitial || (kind == "idle" && w.state == stateChanged) {
		w.check(b, "settle", w.pass(b))
		w.state = stateSettled
	}
	if kind == "change" {
		w.change(ctx, b)
	}
}

func (w *benchWorld) bench(b *testing.B, kind string) {
	ctx := context.Background()
	b.StopTimer()
	var total figures
	for i := 0; i < b.N; i++ {
		w.prepare(ctx, b, kind)
		before := w.emu.traffic(b)
		rss := resetPeakRSS()
		mem := startMemSampler()
		stopProfile := w.startProfile(b, kind, i)
		cpu0, emu0 := processCPU(), w.emu.cpu()
		start := time.Now()
		b.StartTimer()
		r := w.pass(b)
		b.StopTimer()
		wall := time.Since(start)
		cpu := processCPU() - cpu0
		emuCPU := w.emu.cpu() - emu0
		peak := mem.stop()
		peakRSS := rss()
		stopProfile()
		after := w.emu.traffic(b)
		w.check(b, kind, r)
		switch kind {
		case "initial":
			w.state = stateInitial
		case "change":
			w.state = stateChanged
		default:
			w.state = stateSettled
		}
		total.requests += float64(after.HTTPRequests - before.HTTPRequests)
		total.ops += float64(after.Operations - before.Operations)
		total.throttled += float64(after.Throttled - before.Throttled)
		total.changes += float64(applied(r))
		total.wall += wall.Seconds()
		total.cpu += cpu.Seconds()
		total.emuCPU += emuCPU.Seconds()
		total.goMB = max(total.goMB, float64(peak)/(1<<20))
		total.peakMB = max(total.peakMB, float64(cmp.Or(peakRSS, peak))/(1<<20))
	}
	n := float64(b.N)
	f := figures{requests: total.requests / n, ops: total.ops / n, throttled: total.throttled / n,
		changes: total.changes / n, wall: total.wall / n, cpu: total.cpu / n,
		emuCPU: total.emuCPU / n, peakMB: total.peakMB, goMB: total.goMB}
	b.ReportMetric(f.requests, "requests/pass")
	b.ReportMetric(f.ops, "ops/pass")
	b.ReportMetric(f.throttled, "429s/pass")
	b.ReportMetric(f.changes, "changes/pass")
	b.ReportMetric(f.wall, "wall-s/pass")
	b.ReportMetric(f.cpu, "cpu-s/pass")
	b.ReportMetric(f.emuCPU, "emu-cpu-s/pass")
	b.ReportMetric(f.peakMB, "peak-MB")
	b.ReportMetric(f.goMB, "go-MB")
	benchResults.Lock()
	benchResults.m[w.run.name()+"/"+kind] = f
	benchResults.Unlock()
}

// startProfile starts a CPU profile of one timed pass when -passprofile is set, and returns what stops it.
func (w *benchWorld) startProfile(b *testing.B, kind string, i int) func() {
	if *passProfile == "" {
		return func() {}
	}
	name := filepath.Join(*passProfile, fmt.Sprintf("%s-%s-r%d-%s-%d.pprof", w.run.backend, w.run.mode,
		w.run.resources, kind, i+1))
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// pass runs one whole pass as `tfsync sync` does: open TF, the store and the backend (a fresh token), sync, close.
func (w *benchWorld) pass(b *testing.B) *calsync.Report {
	b.Helper()
	ctx := zerolog.New(io.Discard).Level(zerolog.InfoLevel).WithContext(context.Background())
	clock := func() time.Time { return benchNow }
	src, err := tf.OpenSQLite(w.tfPath, tf.SQLiteOptions{Zone: benchZone, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	store, err := calsync.OpenStore(ctx, w.store, clock)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	// A clone of the default transport, as the backends make for themselves in production, trusting the CA.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: w.emu.pool, MinVersion: tls.VersionTLS12}
	tr.Proxy = nil
	// The process of a real pass exits with the connections it opened; here they are closed.
	defer tr.CloseIdleConnections()
	cal, err := w.calendar(&http.Client{Transport: tr, Timeout: 2 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer cal.Close()
	eng := &calsync.Engine{Source: src, Calendar: cal, Store: store, Settings: benchSettings(), Now: clock,
		RunID: "bench", Full: w.run.mode == "naive", Concurrency: 8}
	r, err := eng.Sync(ctx)
	if err != nil {
		b.Fatalf("sync: %v", err)
	}
	return r
}

// calendar builds the backend the way cmd does with the default concurrency of 8.
func (w *benchWorld) calendar(hc *http.Client) (exchange.Calendar, error) {
	switch w.run.backend {
	case "graph":
		o := graph.Options{TenantID: emutest.TenantID, ClientID: emutest.ClientID, ClientSecret: emutest.Secret,
			AuthorityHost: w.emu.url, GraphURL: w.emu.url, HTTPClient: hc, Zone: benchZone, MaxConcurrency: 16}
		if w.run.mode == "naive" {
			o.MaxBatch = 1
		}
		return graph.New(o)
	case "ews":
		return ews.New(ews.Options{URL: w.emu.url + "/EWS/Exchange.asmx", Username: emutest.ServiceUser,
			Password: emutest.ServicePassword, HTTPClient: hc, Zone: benchZone, MaxConcurrency: 8})
	}
	return nil, fmt.Errorf("unknown backend %q", w.run.backend)
}

func benchSettings() calsync.Settings {
	return calsync.Settings{
		Zone: benchZone, Kinds: tf.Kinds, DefaultLength: time.Hour, ShowAs: exchange.ShowBusy,
		ReminderMinutes: 15, IncludeLocation: true, AllowedDomains: []string{"example.com"},
		PastDays: 7, FutureDays: 90, Conflict: calsync.ConflictTF, OnCalendarDelete: calsync.DeleteRecreate,
		MaxDeletePercent: 50, MaxDeleteFloor: 5,
		// Every event names its installation, as in a real installation.
		InstallationID: "5f0c3e2a-9b7d-4c61-8e2f-3a1d6b9c0e47",
	}
}

// check fails the benchmark when a pass did not do what its kind means: figures of a broken pass are worthless.
func (w *benchWorld) check(b *testing.B, kind string, r *calsync.Report) {
	b.Helper()
	count := map[calsync.ActionKind]int{}
	for _, res := range r.Results {
		if res.Err != nil {
			b.Fatalf("%s pass: %s %s in %s: %v", kind, res.Kind, res.BookingID, res.Mailbox, res.Err)
		}
		count[res.Kind]++
	}
	if r.Failed > 0 || r.Held > 0 {
		b.Fatalf("%s pass: %d failed, %d held", kind, r.Failed, r.Held)
	}
	bookings := w.run.resources * benchPerResource
	changed := bookings * benchChangePc / 100
	switch kind {
	case "initial":
		if count[calsync.ActCreate] != bookings || len(count) != 1 {
			b.Fatalf("initial pass: %v, want %d creates only", count, bookings)
		}
	case "echo", "settle", "idle":
		if n := applied(r); n != 0 {
			b.Fatalf("%s pass changed something: %v", kind, count)
		}
	case "change":
		if count[calsync.ActUpdate] != changed || count[calsync.ActMoveTF] != changed {
			b.Fatalf("change pass: %v, want %d updates and %d moves to TF", count, changed, changed)
		}
	}
}

// applied counts what a pass changed in a calendar or in TF.
func applied(r *calsync.Report) int {
	n := 0
	for _, res := range r.Results {
		switch res.Kind {
		case calsync.ActCreate, calsync.ActUpdate, calsync.ActDelete, calsync.ActMoveTF:
			if res.Err == nil && !res.Held {
				n++
			}
		}
	}
	return n
}

// change edits 1% of the bookings in TF and moves another 1% of the events in their calendars, a different 1%
// each round.
func (w *benchWorld) change(ctx context.Context, b *testing.B) {
	b.Helper()
	round := w.changes
	w.changes++
	step := 100 / benchChangePc
	pick := func(offset int) []string {
		var ids []string
		for i := 0; i < w.run.resources*benchPerResource; i++ {
			if i%step == (round*7+offset)%step {
				ids = append(ids, benchBookingID(i/benchPerResource, i%benchPerResource))
			}
		}
		return ids
	}

	db, err := sql.Open("sqlite3", "file:"+w.tfPath+"?_busy_timeout=5000")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stamp := benchNow.Add(-time.Minute).Format("2006-01-02T15:04:05")
	for _, id := range pick(0) {
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET description = ?, version = version + 1,
			updated_at = ? WHERE id = ?`, fmt.Sprintf("Ändrad i TF (omgång %d).", round+1), stamp, id); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}

	store, err := calsync.OpenStore(ctx, w.store, func() time.Time { return benchNow })
	if err != nil {
		b.Fatal(err)
	}
	links, err := store.Links(ctx)
	store.Close()
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range pick(step / 2) {
		l, ok := links[id]
		if !ok {
			b.Fatalf("booking %s has no link", id)
		}
		start, end := l.EvStart.Add(time.Hour), l.EvEnd.Add(time.Hour)
		if l.AllDay {
			start, end = l.EvStart.In(benchZone).AddDate(0, 0, 1), l.EvEnd.In(benchZone).AddDate(0, 0, 1)
		}
		w.emu.move(b, l.Mailbox, l.EventID, start, end)
	}
}

// makeBenchTF writes n resources with 20 bookings each, spread over the sync window and over the five kinds, in
// one transaction.
func makeBenchTF(ctx context.Context, path string, n int) error {
	if err := tf.CreateSchema(ctx, path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.PrepareContext(ctx, `INSERT INTO resources (id, name, email, sync_enabled) VALUES (?, ?, ?, 1)`)
	if err != nil {
		return err
	}
	book, err := tx.PrepareContext(ctx, `INSERT INTO bookings (id, kind, resource_id, title, description, location,
		start, "end", status, url, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, 1, ?)`)
	if err != nil {
		return err
	}
	streets := []string{"Storgatan", "Kyrkogatan", "Esplanaden", "Skolhusallén", "Bergsgatan", "Norrmalmsgatan"}
	titles := map[tf.Kind]string{
		tf.KindArende: "Läckande element", tf.KindBesiktning: "Hissbesiktning", tf.KindKontroll: "OVK-kontroll",
		tf.KindDriftatgard: "Filterbyte ventilation", tf.KindRondering: "Fastighetsrondering",
	}
	today := time.Date(benchNow.Year(), benchNow.Month(), benchNow.Day(), 0, 0, 0, 0, benchZone)
	updated := benchNow.AddDate(0, 0, -1).Format("2006-01-02T15:04:05")
	for r := 0; r < n; r++ {
		rid := fmt.Sprintf("R%04d", r+1)
		if _, err := res.ExecContext(ctx, rid, fmt.Sprintf("Tekniker %d", r+1), benchMailbox(r)); err != nil {
			return err
		}
		for j := 0; j < benchPerResource; j++ {
			kind := tf.Kinds[(r+j)%len(tf.Kinds)]
			day := today.AddDate(0, 0, -5+j*4+r%4)
			addr := fmt.Sprintf("%s %d, Sundsvall", streets[(r+j)%len(streets)], 1+(r*7+j)%60)
			var start string
			var end any
			if kind.AllDay() {
				start = day.Format("2006-01-02")
			} else {
				s := day.Add(time.Duration(7+(r+j)%9) * time.Hour)
				start = s.Format("2006-01-02T15:04:05")
				if j%3 != 0 { // every third booking has a NULL end: the default length
					end = s.Add(time.Duration(1+j%2) * time.Hour).Format("2006-01-02T15:04:05")
				}
			}
			id := benchBookingID(r, j)
			desc := fmt.Sprintf("%s enligt avtal. Nyckel i fastighetsboxen, kod hos förvaltaren. Kontakt: "+
				"fastighetsskötare på plats. Ärende registrerat av kundtjänst.", titles[kind])
			if _, err := book.ExecContext(ctx, id, string(kind), rid, titles[kind]+", "+addr, desc, addr, start,
				end, "https://tf.example.com/bokning/"+id, updated); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

func benchMailbox(r int) string { return fmt.Sprintf("tech%04d@example.com", r+1) }

func benchBookingID(r, j int) string { return fmt.Sprintf("B-%04d-%02d", r+1, j) }

// processCPU is the CPU time the process has used, user and system, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS returns the memory the Go runtime holds to the system and resets the kernel's record of the
// process's highest resident memory (VmHWM), so that what the returned function reads is this pass's peak. It
// needs Linux's /proc; elsewhere the function returns 0.
func resetPeakRSS() func() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return func() uint64 { return 0 }
	}
	return func() uint64 {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					return 0
				}
				return kb << 10
			}
		}
		return 0
	}
}

// memSampler records the most memory the Go runtime held in use (heap objects and their unused spans, stacks,
// runtime metadata; not memory returned or free for reuse) while a pass ran.
type memSampler struct {
	quit chan struct{}
	done chan uint64
}

func startMemSampler() *memSampler {
	s := &memSampler{quit: make(chan struct{}), done: make(chan uint64)}
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}}
	read := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64() - samples[1].Value.Uint64() - samples[2].Value.Uint64()
	}
	go func() {
		peak := read()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				s.done <- max(peak, read())
				return
			case <-t.C:
				peak = max(peak, read())
			}
		}
	}()
	return s
}

func (s *memSampler) stop() uint64 {
	close(s.quit)
	return <-s.done
}

// benchEmulator is the emulator in its child process, and what the benchmark needs to reach it.
type benchEmulator struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	url    string
	pool   *x509.CertPool
	client *http.Client
}

type benchHello struct {
	URL string `json:"url"`
	CA  string `json:"ca"`
}

// startBenchEmulator starts this test binary again as an emulator with n mailboxes and waits for its address.
func startBenchEmulator(n int) (*benchEmulator, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-passprofile="+*passProfile)
	cmd.Env = append(os.Environ(), benchEmulatorEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &benchEmulator{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var hello benchHello
	if err == nil {
		err = json.Unmarshal(line, &hello)
	}
	if err != nil {
		e.stop()
		return nil, fmt.Errorf("read the emulator's address: %w", err)
	}
	e.url = hello.URL
	e.pool = x509.NewCertPool()
	if !e.pool.AppendCertsFromPEM([]byte(hello.CA)) {
		e.stop()
		return nil, fmt.Errorf("the emulator's CA is not PEM")
	}
	e.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12}}}
	return e, nil
}

// cpu is the CPU time the emulator process has used, from Linux's /proc (in its 10 ms ticks); 0 elsewhere.
func (e *benchEmulator) cpu() time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces; the fields after it are fixed: utime and stime are the
	// 12th and 13th.
	_, rest, ok := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const ticksPerSecond = 100 // Linux's USER_HZ
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// stop closes the child's stdin, which ends it, and waits for it.
func (e *benchEmulator) stop() {
	e.stdin.Close()
	done := make(chan struct{})
	go func() { e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-done
	}
}

func (e *benchEmulator) traffic(b *testing.B) emulator.Traffic {
	b.Helper()
	resp, err := e.client.Get(e.url + "/_emulator/traffic")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var t emulator.Traffic
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		b.Fatalf("read traffic: %v", err)
	}
	return t
}

// move moves an event as its technician would in Outlook.
func (e *benchEmulator) move(b *testing.B, mailbox, id string, start, end time.Time) {
	b.Helper()
	body, _ := json.Marshal(map[string]time.Time{"start": start, "end": end})
	u := e.url + "/_emulator/mailboxes/" + url.PathEscape(mailbox) + "/events/" + url.PathEscape(id) + "/move"
	resp, err := e.client.Post(u, "application/json", strings.NewReader(string(body)))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("move event %s in %s: %s: %s", id, mailbox, resp.Status, msg)
	}
}

// serveBenchEmulator is the child process: an emulator with mailboxes tech0001.. and the cost model, serving until
// its stdin closes.
func serveBenchEmulator(count string) int {
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a mailbox count\n", benchEmulatorEnv, count)
		return 2
	}
	em := emulator.New(emulator.Options{})
	// The rig's standard app and service account; the emulator itself is set up here, in a process of its own
	// without a *testing.T, so that its CPU time is measured apart from the pass's.
	em.AddApp(emulator.App{TenantID: emutest.TenantID, ClientID: emutest.ClientID, SecretValue: emutest.Secret,
		SecretID: emutest.SecretID, Consented: true})
	em.AddEWSAccount(emulator.EWSAccount{Username: emutest.ServiceUser, Password: emutest.ServicePassword,
		Impersonation: true})
	for r := 0; r < n; r++ {
		em.AddMailbox(benchMailbox(r), emulator.MailboxOptions{})
	}
	em.SetFaults(benchFaults)
	if *passProfile != "" {
		// The emulator's own profile, over its whole life, for when its CPU time is what slows a pass down.
		f, err := os.CreateTemp(*passProfile, "emulator-*.pprof")
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	srv, err := emulator.Serve(em, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve the emulator: %v\n", err)
		return 1
	}
	defer srv.Close()
	if err := json.NewEncoder(os.Stdout).Encode(benchHello{URL: srv.URL, CA: string(srv.CACertPEM)}); err != nil {
		return 1
	}
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// benchGoal is one of issue 6's goals for the 500-resource scenario on Graph with tfsync's settings.
type benchGoal struct {
	pass, what string
	value      func(figures) float64
	limit      float64
}

var benchGoalList = []benchGoal{
	{"idle", "HTTP requests", func(f figures) float64 { return f.requests }, 30},
	{"idle", "wall s", func(f figures) float64 { return f.wall }, 0.5},
	{"idle", "CPU s", func(f figures) float64 { return f.cpu }, 0.3},
	{"change", "HTTP requests", func(f figures) float64 { return f.requests }, 50},
	{"change", "wall s", func(f figures) float64 { return f.wall }, 1},
	{"initial", "HTTP requests", func(f figures) float64 { return f.requests }, 600},
	{"initial", "wall s", func(f figures) float64 { return f.wall }, 6},
	{"initial", "peak MB", func(f figures) float64 { return f.peakMB }, 100},
	{"idle", "peak MB", func(f figures) float64 { return f.peakMB }, 100},
	{"change", "peak MB", func(f figures) float64 { return f.peakMB }, 100},
}

// benchGoals lists the goals against the figures, when the scenario ran.
func benchGoals(m map[string]figures) string {
	var sb strings.Builder
	for _, g := range benchGoalList {
		f, ok := m["graph/tuned/r500/"+g.pass]
		if !ok {
			continue
		}
		if sb.Len() == 0 {
			sb.WriteString("Goals (graph, tuned, 500 resources):\n\n")
		}
		v, verdict := g.value(f), "met"
		if v > g.limit {
			verdict = "MISSED"
		}
		fmt.Fprintf(&sb, "- %s pass, %s: %.2f (goal <= %g) %s\n", g.pass, g.what, v, g.limit, verdict)
	}
	return sb.String()
}

// benchTable renders the figures as the Markdown table docs/performance.md shows.
func benchTable(m map[string]figures) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Rows go in the order of benchRuns, and each run's passes in the order they ran.
	rank := map[string]int{}
	for i, r := range benchRuns {
		for j, kind := range benchPasses {
			rank[r.name()+"/"+kind] = i*len(benchPasses) + j
		}
	}
	sort.Slice(keys, func(i, j int) bool { return rank[keys[i]] < rank[keys[j]] })
	var sb strings.Builder
	sb.WriteString("| backend | mode | resources | pass | HTTP requests | operations | 429s | changes | wall s | CPU s | " +
		"peak MB | Go MB | emulator CPU s |\n")
	sb.WriteString("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range keys {
		p := strings.Split(k, "/")
		f := m[k]
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f | %.2f |\n",
			p[0], p[1], strings.TrimPrefix(p[2], "r"), p[3], f.requests, f.ops, f.throttled, f.changes, f.wall,
			f.cpu, f.peakMB, f.goMB, f.emuCPU)
	}
	return sb.String()
}
