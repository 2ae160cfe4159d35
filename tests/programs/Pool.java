// The target of t_jvm.sh: a pool of 4 threads does rounds of work that
// allocates (lists of arrays, strings, maps), with System.gc() every 5
// rounds; each round's result goes into a running checksum and a history.
// It prints the round number (one a line). When the file args[0] exists it
// stops, recomputes every round on one thread and checks the checksum and
// the history: PASS, or FAIL: what differs.
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;

public class Pool {
    static long work(int round, int task) {
        List<long[]> keep = new ArrayList<>();
        Map<String, Long> m = new HashMap<>();
        long h = 1469598103934665603L ^ (round * 31L + task);
        for (int i = 0; i < 200; i++) {
            long[] a = new long[64 + (i * 7 + task) % 512];
            for (int j = 0; j < a.length; j++) {
                h = (h ^ (j + i)) * 1099511628211L;
                a[j] = h;
            }
            if (i % 3 == 0) keep.add(a);
            m.put("k" + round + "." + task + "." + i, a[a.length / 2]);
        }
        long s = 0;
        for (long[] a : keep) s += a[0] ^ a[a.length - 1];
        for (Map.Entry<String, Long> e : m.entrySet()) s += e.getKey().length() * e.getValue();
        return s;
    }

    public static void main(String[] args) throws Exception {
        Path stop = Paths.get(args[0]);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Long> history = new ArrayList<>();
        long sum = 0;
        int round = 0;
        System.out.println("READY");
        while (!Files.exists(stop)) {
            final int r = round;
            List<Future<Long>> fs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int tk = t;
                fs.add(pool.submit(() -> work(r, tk)));
            }
            long rs = 0;
            for (Future<Long> f : fs) rs += f.get();
            history.add(rs);
            sum = sum * 31 + rs;
            if (round % 5 == 4) System.gc();
            System.out.println(round);
            System.out.flush();
            round++;
            Thread.sleep(50);
        }
        pool.shutdown();
        if (!pool.awaitTermination(10, TimeUnit.SECONDS)) System.out.println("FAIL: the pool did not end");
        long check = 0;
        boolean ok = history.size() == round;
        if (!ok) System.out.println("FAIL: " + history.size() + " results for " + round + " rounds");
        for (int r = 0; r < round && ok; r++) {
            long rs = 0;
            for (int t = 0; t < 4; t++) rs += work(r, t);
            if (rs != history.get(r)) {
                System.out.println("FAIL: round " + r + " gave " + history.get(r) + ", recomputed " + rs);
                ok = false;
            }
            check = check * 31 + rs;
        }
        if (ok && check != sum) {
            System.out.println("FAIL: checksum " + sum + ", recomputed " + check);
            ok = false;
        }
        System.out.println(ok ? "PASS " + round + " rounds" : "FAIL: state check");
        System.exit(ok ? 0 : 1);
    }
}
