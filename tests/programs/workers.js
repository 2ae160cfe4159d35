// The target of t_node.sh: the main thread and a worker_threads worker
// exchange messages with sequence numbers, one every 50 ms. The worker
// checks that each seq is the one after the last it saw and answers with a
// value computed from it and its own running sum; the main thread checks
// the answer and prints the seq (one a line). When the file argv[2] exists
// the main thread asks the worker for its state and compares it with its
// own: PASS, or FAIL: what differs.
'use strict';
const { Worker, isMainThread, parentPort } = require('worker_threads');
const fs = require('fs');

function value(seq) { return (seq * 2654435761) % 1000003; }

if (!isMainThread) {
  let expect = 0, sum = 0, bad = 0;
  const junk = [];
  parentPort.on('message', (m) => {
    if (m.stop) {
      parentPort.postMessage({ state: true, expect, sum, bad });
      return;
    }
    if (m.seq !== expect) bad++;
    expect = m.seq + 1;
    sum = (sum + value(m.seq)) % 1000000007;
    junk.push('x'.repeat(m.seq % 100));      // some garbage for the GC
    if (junk.length > 1000) junk.length = 0;
    parentPort.postMessage({ seq: m.seq, v: value(m.seq), sum });
  });
} else {
  const stop = process.argv[2];
  const w = new Worker(__filename);
  let seq = 0, sum = 0, failed = false;
  const fail = (s) => { console.log('FAIL: ' + s); failed = true; };
  w.on('error', (e) => { fail('worker error ' + e); process.exit(1); });
  w.on('message', (m) => {
    if (m.state) {
      if (m.bad !== 0) fail('the worker saw ' + m.bad + ' seqs out of order');
      if (m.expect !== seq) fail('the worker expects seq ' + m.expect + ', main is at ' + seq);
      if (m.sum !== sum) fail('the worker sum ' + m.sum + ', main ' + sum);
      console.log(failed ? 'FAIL: state check' : 'PASS ' + seq + ' messages');
      process.exit(failed ? 1 : 0);
    }
    if (m.seq !== seq) fail('answer for seq ' + m.seq + ', expected ' + seq);
    if (m.v !== value(seq)) fail('seq ' + seq + ': value ' + m.v);
    sum = (sum + value(seq)) % 1000000007;
    if (m.sum !== sum) fail('seq ' + seq + ': worker sum ' + m.sum + ', main ' + sum);
    console.log(String(seq));
    seq++;
    setTimeout(next, 50);
  });
  function next() {
    if (fs.existsSync(stop)) w.postMessage({ stop: true });
    else w.postMessage({ seq });
  }
  console.log('READY');
  next();
}
