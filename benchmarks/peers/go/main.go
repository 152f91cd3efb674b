// Peer benchmark: keypool's BM_AcquireCommit/keys:10 done with Go's golang.org/x/time/rate.
//
// The same work: 10 keys, each with the three limits of the seeds (requests per minute, requests
// per day, tokens per minute) as one rate.Limiter each, set out of reach so nothing is refused;
// every request takes the next key in turn (a cursor per goroutine), reads the clock once and
// takes 1 request and 100 tokens from all three limiters of the key. keypool's commit at the
// estimate writes nothing, and x/time/rate has nothing to commit, so there is no second step.
//
// Two ways to take from three limiters, because the package offers no "all three or none":
//
//   - allow: AllowN on each in turn. Cheapest. A refusal by the second or third leaves the
//     earlier ones charged for a request that was not made (AllowN returns nothing to undo).
//   - reserve: ReserveN on each, kept only if it needs no wait; on a refusal the reservations
//     already taken are given back with CancelAt. The closest to keypool's reserve-or-roll-back,
//     but each limiter has its own mutex: another goroutine can see the first limit taken and the
//     second not yet, and CancelAt restores "as much as possible" (its own documentation).
//
// Output: a report shaped as Google Benchmark's --benchmark_out JSON (name, iterations,
// real_time, cpu_time, time_unit, items_per_second, threads), so one reader takes both. real_time
// is wall time over the requests of all goroutines together (as Google Benchmark's UseRealTime
// with threads); cpu_time is the process's CPU time (getrusage, the runtime's own threads
// included) over the same requests. A benchmark that cannot admit a request is reported with
// "error_occurred": true and the program exits with status 1.
//
// Built by ../build.cmake (Debian: golang-go, and golang-golang-x-time-dev, whose sources form a
// GOPATH; GOPATH mode, offline). Run:
//
//	peer_go [-min_time=1s] [-warmup=200ms] [-threads=1,2] [-variants=allow,reserve] [-out=report.json]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

const (
	keyCount      = 10
	requestTokens = 100
	// The limits of keypool's benchmark (benchmarks/support.hpp, roomy_limits): 2^34 per minute,
	// 2^44 per day. As a token bucket: the window's amount as the burst, refilled at amount/window.
	requestsPerMinute = 1 << 34
	requestsPerDay    = 1 << 44
	tokensPerMinute   = 1 << 34
	// How many requests a goroutine makes between two looks at the clock for the deadline.
	batch = 1000
)

// A key's three limiters, in the order keypool checks them, and what one request takes from each.
type key struct {
	limiters [3]*rate.Limiter
	amounts  [3]int
}

func newKey() *key {
	perSecond := func(amount float64, window time.Duration) rate.Limit {
		return rate.Limit(amount / window.Seconds())
	}
	return &key{
		limiters: [3]*rate.Limiter{
			rate.NewLimiter(perSecond(requestsPerMinute, time.Minute), requestsPerMinute),
			rate.NewLimiter(perSecond(requestsPerDay, 24*time.Hour), requestsPerDay),
			rate.NewLimiter(perSecond(tokensPerMinute, time.Minute), tokensPerMinute),
		},
		amounts: [3]int{1, 1, requestTokens},
	}
}

type pool struct {
	keys []*key
}

func newPool() *pool {
	p := &pool{keys: make([]*key, keyCount)}
	for i := range p.keys {
		p.keys[i] = newKey()
	}
	return p
}

// acquireAllow admits a request on the next key in turn whose three limiters all allow it, and
// returns the key's index, or -1 when every key refused. Safe for concurrent use (each limiter
// locks its own mutex); not all-or-nothing: see the file's comment.
func (p *pool) acquireAllow(cursor *int, now time.Time) int {
	for tried := 0; tried < len(p.keys); tried++ {
		index := *cursor
		*cursor = (index + 1) % len(p.keys)
		k := p.keys[index]
		if k.limiters[0].AllowN(now, k.amounts[0]) && k.limiters[1].AllowN(now, k.amounts[1]) &&
			k.limiters[2].AllowN(now, k.amounts[2]) {
			return index
		}
	}
	return -1
}

// acquireReserve is acquireAllow with reservations: a limiter that cannot serve now gives back
// what the key's earlier limiters reserved (CancelAt), so a refused request leaves no charge.
// Written out per limiter: a reservation kept in a variable of the enclosing loop would be
// moved to the heap (Go's escape analysis), three allocations per request the package does not
// ask for.
func (p *pool) acquireReserve(cursor *int, now time.Time) int {
	for tried := 0; tried < len(p.keys); tried++ {
		index := *cursor
		*cursor = (index + 1) % len(p.keys)
		k := p.keys[index]
		first := k.limiters[0].ReserveN(now, k.amounts[0])
		if !servesNow(first, now) {
			first.CancelAt(now) // a reservation that would have to wait is not wanted either
			continue
		}
		second := k.limiters[1].ReserveN(now, k.amounts[1])
		if !servesNow(second, now) {
			second.CancelAt(now)
			first.CancelAt(now)
			continue
		}
		third := k.limiters[2].ReserveN(now, k.amounts[2])
		if !servesNow(third, now) {
			third.CancelAt(now)
			second.CancelAt(now)
			first.CancelAt(now)
			continue
		}
		return index
	}
	return -1
}

// servesNow says whether a reservation admits its events at once, as AllowN would.
func servesNow(r *rate.Reservation, now time.Time) bool {
	return r.OK() && r.DelayFrom(now) == 0
}

type result struct {
	Name           string  `json:"name"`
	RunName        string  `json:"run_name"`
	RunType        string  `json:"run_type"`
	Threads        int     `json:"threads"`
	Iterations     int64   `json:"iterations,omitempty"`
	RealTime       float64 `json:"real_time,omitempty"`
	CPUTime        float64 `json:"cpu_time,omitempty"`
	TimeUnit       string  `json:"time_unit"`
	ItemsPerSecond float64 `json:"items_per_second,omitempty"`
	AllocsPerItem  float64 `json:"allocs_per_item"`
	ErrorOccurred  bool    `json:"error_occurred,omitempty"`
	ErrorMessage   string  `json:"error_message,omitempty"`
}

func processCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// run makes requests on a fresh pool from `threads` goroutines until `duration` has passed
// (checked every `batch` requests) and returns how many, the wall and CPU time they took, and the
// heap allocations per request. The first goroutine that sees a refusal stops them all.
func run(variant string, threads int, duration time.Duration) (requests int64, wall, cpu time.Duration, allocs float64, err error) {
	p := newPool()
	reserve := variant == "reserve"
	var (
		wg      sync.WaitGroup
		total   atomic.Int64
		refused atomic.Bool
		begin   = make(chan struct{})
	)
	for g := 0; g < threads; g++ {
		wg.Add(1)
		go func(cursor int) {
			defer wg.Done()
			<-begin
			var made int64
			deadline := time.Now().Add(duration)
			for stop := false; !stop; {
				for i := 0; i < batch; i++ {
					// Called directly, not through a func value: the cursor then stays on the
					// goroutine's stack instead of in a heap word next to the other's cursor.
					var index int
					if reserve {
						index = p.acquireReserve(&cursor, time.Now())
					} else {
						index = p.acquireAllow(&cursor, time.Now())
					}
					if index < 0 {
						refused.Store(true)
						break
					}
					made++
				}
				stop = refused.Load() || !time.Now().Before(deadline)
			}
			total.Add(made)
		}(g % keyCount)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuStart := processCPU()
	start := time.Now()
	close(begin)
	wg.Wait()
	wall = time.Since(start)
	cpu = processCPU() - cpuStart
	runtime.ReadMemStats(&after)
	if refused.Load() {
		return 0, 0, 0, 0, errors.New("a request was refused: the limits must admit every request of the run")
	}
	requests = total.Load()
	return requests, wall, cpu, float64(after.Mallocs-before.Mallocs) / float64(requests), nil
}

func main() {
	minTime := flag.Duration("min_time", time.Second, "how long each benchmark makes requests")
	warmup := flag.Duration("warmup", 200*time.Millisecond, "requests made before each benchmark, not measured")
	threadList := flag.String("threads", "1,2", "comma-separated goroutine counts, one benchmark each")
	variantList := flag.String("variants", "allow,reserve", "comma-separated: allow, reserve")
	out := flag.String("out", "", "write the JSON report here instead of standard output")
	flag.Parse()

	var threadCounts []int
	for _, field := range strings.Split(*threadList, ",") {
		n, err := strconv.Atoi(field)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "peer_go: bad -threads entry %q\n", field)
			os.Exit(2)
		}
		threadCounts = append(threadCounts, n)
	}
	// Two processors whatever the machine: the second serves the two-goroutine runs, and the
	// runtime's background work (collector, scheduler) in the one-goroutine runs, as the second
	// core is free beside keypool's one-thread benchmark.
	runtime.GOMAXPROCS(2)

	var results []result
	failed := false
	for _, variant := range strings.Split(*variantList, ",") {
		if variant != "allow" && variant != "reserve" {
			fmt.Fprintf(os.Stderr, "peer_go: unknown variant %q (allow, reserve)\n", variant)
			os.Exit(2)
		}
		for _, threads := range threadCounts {
			name := "Peer_XTimeRate_" + map[string]string{"allow": "AllowN", "reserve": "ReserveN_CancelAt"}[variant] + "/keys:10"
			if threads > 1 {
				name += "/real_time/threads:" + strconv.Itoa(threads)
			}
			r := result{Name: name, RunName: name, RunType: "iteration", Threads: threads, TimeUnit: "ns"}
			if *warmup > 0 {
				if _, _, _, _, err := run(variant, threads, *warmup); err != nil {
					r.ErrorOccurred, r.ErrorMessage = true, err.Error()
				}
			}
			if !r.ErrorOccurred {
				requests, wall, cpu, allocs, err := run(variant, threads, *minTime)
				if err != nil {
					r.ErrorOccurred, r.ErrorMessage = true, err.Error()
				} else {
					r.Iterations = requests
					r.RealTime = float64(wall.Nanoseconds()) / float64(requests)
					r.CPUTime = float64(cpu.Nanoseconds()) / float64(requests)
					r.ItemsPerSecond = float64(requests) / wall.Seconds()
					r.AllocsPerItem = allocs
				}
			}
			failed = failed || r.ErrorOccurred
			if r.ErrorOccurred {
				fmt.Fprintf(os.Stderr, "%-56s ERROR: %s\n", r.Name, r.ErrorMessage)
			} else {
				fmt.Fprintf(os.Stderr, "%-56s %8.1f ns %8.1f ns cpu %12d requests %.2f allocs/request\n",
					r.Name, r.RealTime, r.CPUTime, r.Iterations, r.AllocsPerItem)
			}
			results = append(results, r)
		}
	}

	report := struct {
		Context    map[string]any `json:"context"`
		Benchmarks []result       `json:"benchmarks"`
	}{
		Context: map[string]any{
			"date":       time.Now().Format(time.RFC3339),
			"executable": os.Args[0],
			"num_cpus":   runtime.NumCPU(),
			"library":    "golang.org/x/time/rate",
			"go_version": runtime.Version(),
			"gomaxprocs": runtime.GOMAXPROCS(0),
		},
		Benchmarks: results,
	}
	text, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer_go:", err)
		os.Exit(1)
	}
	text = append(text, '\n')
	if *out == "" {
		_, err = os.Stdout.Write(text)
	} else {
		err = os.WriteFile(*out, text, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer_go:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}
