// Peer benchmark: keypool's BM_AcquireCommit/keys:10 done with Guava's RateLimiter.
//
// The same work: 10 keys, each with the three limits of the seeds (requests per minute, requests
// per day, tokens per minute) as one RateLimiter each, set out of reach so nothing is refused;
// every request takes the next key in turn (a cursor per thread) and takes 1 request and 100
// tokens from all three limiters of the key with tryAcquire(permits, 0, MICROSECONDS). keypool's
// commit at the estimate writes nothing, and RateLimiter has nothing to commit.
//
// What Guava gives, and how it differs from keypool's limits:
//   - A RateLimiter is a smooth rate in permits per second, not a calendar window. Each limit
//     becomes its window's amount over the window's length (2^34 per minute: 2^34/60 per second;
//     2^44 per day: 2^44/86400 per second), with Guava's default burst of one second's permits.
//   - tryAcquire with no timeout admits whenever the limiter owes nothing, however many permits
//     are asked for, and charges them to the requests that follow: one request may overshoot.
//   - There is no reservation to give back: when the second or third limiter refuses, the
//     earlier ones stay charged for a request that was not made. Each limiter has its own lock
//     and reads the clock itself (three reads per request; keypool reads it once).
//
// Output: a report shaped as Google Benchmark's --benchmark_out JSON (name, iterations,
// real_time, cpu_time, time_unit, items_per_second, threads), so one reader takes both. real_time
// is wall time over the requests of all threads together (as Google Benchmark's UseRealTime with
// threads); cpu_time is the process's CPU time (the JVM's compiler and collector threads
// included) over the same requests. The JIT compiler is warmed up first (-warmup) on the same
// code. A benchmark that cannot admit a request is reported with "error_occurred": true and the
// program exits with status 1.
//
// Built by ../build.cmake (Debian: default-jdk-headless, libguava-java). Run:
//   java -cp guava.jar:<classes> PeerGuava [-min_time=1] [-warmup=1] [-threads=1,2] [-out=report.json]
// (times in seconds).

import com.google.common.util.concurrent.RateLimiter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

public final class PeerGuava {
  private static final int KEY_COUNT = 10;
  private static final int REQUEST_TOKENS = 100;
  // The limits of keypool's benchmark (benchmarks/support.hpp, roomy_limits).
  private static final double REQUESTS_PER_MINUTE = 0x1p34;
  private static final double REQUESTS_PER_DAY = 0x1p44;
  private static final double TOKENS_PER_MINUTE = 0x1p34;
  // How many requests a thread makes between two looks at the clock for the deadline.
  private static final int BATCH = 1000;

  /** A key's three limiters, in the order keypool checks them. */
  private static final class Key {
    final RateLimiter requestsPerMinute = RateLimiter.create(REQUESTS_PER_MINUTE / 60.0);
    final RateLimiter requestsPerDay = RateLimiter.create(REQUESTS_PER_DAY / 86_400.0);
    final RateLimiter tokensPerMinute = RateLimiter.create(TOKENS_PER_MINUTE / 60.0);

    /** Takes one request from all three, or stops at the first that refuses (see the file's comment). */
    boolean tryAcquire() {
      return requestsPerMinute.tryAcquire(1, 0, TimeUnit.MICROSECONDS)
          && requestsPerDay.tryAcquire(1, 0, TimeUnit.MICROSECONDS)
          && tokensPerMinute.tryAcquire(REQUEST_TOKENS, 0, TimeUnit.MICROSECONDS);
    }
  }

  private static final class Pool {
    final Key[] keys = new Key[KEY_COUNT];

    Pool() {
      for (int i = 0; i < keys.length; ++i) keys[i] = new Key();
    }
  }

  /**
   * Admits a request on the first key, from {@code first} on in turn, whose three limiters all
   * admit it; returns the key's index (the caller's cursor moves past it), or -1 when every key
   * refused. Thread-safe: each RateLimiter locks itself.
   */
  private static int acquire(Pool pool, int first) {
    int index = first;
    for (int tried = 0; tried < pool.keys.length; ++tried) {
      if (pool.keys[index].tryAcquire()) return index;
      index = index + 1 == pool.keys.length ? 0 : index + 1;
    }
    return -1;
  }

  private record Run(long requests, long wallNanos, long cpuNanos, boolean refused) {}

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /**
   * Makes requests on a fresh pool from {@code threads} threads until {@code seconds} have passed
   * (checked every BATCH requests). The first thread that sees a refusal stops them all.
   */
  private static Run run(int threads, double seconds) throws InterruptedException {
    final Pool pool = new Pool();
    final long durationNanos = (long) (seconds * 1e9);
    final AtomicLong total = new AtomicLong();
    final AtomicBoolean refused = new AtomicBoolean();
    final CountDownLatch begin = new CountDownLatch(1);
    final List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; ++t) {
      final int start = t % KEY_COUNT;
      final Thread worker = new Thread(() -> {
        try {
          begin.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
        int cursor = start;  // the thread's own round-robin cursor, a local: no sharing
        long made = 0;
        final long deadline = System.nanoTime() + durationNanos;
        boolean stop = false;
        while (!stop) {
          for (int i = 0; i < BATCH; ++i) {
            final int index = acquire(pool, cursor);
            if (index < 0) {
              refused.set(true);
              stop = true;
              break;
            }
            cursor = index + 1 == KEY_COUNT ? 0 : index + 1;
            ++made;
          }
          stop = stop || refused.get() || System.nanoTime() - deadline >= 0;
        }
        total.addAndGet(made);
      });
      worker.start();
      workers.add(worker);
    }
    final long cpuStart = processCpuNanos();
    final long start = System.nanoTime();
    begin.countDown();
    for (Thread worker : workers) worker.join();
    final long wall = System.nanoTime() - start;
    final long cpu = processCpuNanos() - cpuStart;
    return new Run(total.get(), wall, cpu, refused.get());
  }

  private static String jsonString(String text) {
    return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  public static void main(String[] args) throws IOException, InterruptedException {
    double minTime = 1.0;
    double warmup = 1.0;
    List<Integer> threadCounts = List.of(1, 2);
    String out = null;
    for (String arg : args) {
      final int equals = arg.indexOf('=');
      final String flag = equals < 0 ? arg : arg.substring(0, equals);
      final String value = equals < 0 ? "" : arg.substring(equals + 1);
      switch (flag) {
        case "-min_time" -> minTime = Double.parseDouble(value);
        case "-warmup" -> warmup = Double.parseDouble(value);
        case "-out" -> out = value;
        case "-threads" -> {
          threadCounts = new ArrayList<>();
          for (String field : value.split(",")) threadCounts.add(Integer.parseInt(field));
        }
        default -> {
          System.err.println("peer_guava: unknown argument " + arg
              + " (-min_time=<s> -warmup=<s> -threads=<n,...> -out=<file>)");
          System.exit(2);
        }
      }
    }

    final StringBuilder entries = new StringBuilder();
    boolean failed = false;
    for (int threads : threadCounts) {
      String name = "Peer_Guava_TryAcquire/keys:10";
      if (threads > 1) name += "/real_time/threads:" + threads;
      // Warm-up: the same code on its own pool, so the measured run starts JIT-compiled.
      Run result = warmup > 0 ? run(threads, warmup) : new Run(0, 0, 0, false);
      if (!result.refused()) result = run(threads, minTime);
      final StringBuilder entry = new StringBuilder();
      entry.append("    {\n");
      entry.append("      \"name\": ").append(jsonString(name)).append(",\n");
      entry.append("      \"run_name\": ").append(jsonString(name)).append(",\n");
      entry.append("      \"run_type\": \"iteration\",\n");
      entry.append("      \"threads\": ").append(threads).append(",\n");
      if (result.refused()) {
        failed = true;
        final String why = "a request was refused: the limits must admit every request of the run";
        entry.append("      \"time_unit\": \"ns\",\n");
        entry.append("      \"error_occurred\": true,\n");
        entry.append("      \"error_message\": ").append(jsonString(why)).append("\n");
        System.err.printf(Locale.ROOT, "%-56s ERROR: %s%n", name, why);
      } else {
        final double requests = result.requests();
        final double real = result.wallNanos() / requests;
        final double cpu = result.cpuNanos() / requests;
        final double perSecond = requests / (result.wallNanos() / 1e9);
        entry.append("      \"iterations\": ").append(result.requests()).append(",\n");
        entry.append(String.format(Locale.ROOT, "      \"real_time\": %.6e,%n", real));
        entry.append(String.format(Locale.ROOT, "      \"cpu_time\": %.6e,%n", cpu));
        entry.append("      \"time_unit\": \"ns\",\n");
        entry.append(String.format(Locale.ROOT, "      \"items_per_second\": %.6e%n", perSecond));
        System.err.printf(Locale.ROOT, "%-56s %8.1f ns %8.1f ns cpu %12d requests%n", name, real, cpu,
            result.requests());
      }
      entry.append("    }");
      if (entries.length() > 0) entries.append(",\n");
      entries.append(entry);
    }

    final String report = "{\n"
        + "  \"context\": {\n"
        + "    \"date\": " + jsonString(Instant.now().toString()) + ",\n"
        + "    \"num_cpus\": " + Runtime.getRuntime().availableProcessors() + ",\n"
        + "    \"library\": \"com.google.common.util.concurrent.RateLimiter\",\n"
        + "    \"java_version\": " + jsonString(System.getProperty("java.version")) + "\n"
        + "  },\n"
        + "  \"benchmarks\": [\n" + entries + "\n  ]\n"
        + "}\n";
    if (out == null) System.out.print(report);
    else Files.writeString(Path.of(out), report, StandardCharsets.UTF_8);
    System.exit(failed ? 1 : 0);
  }
}
