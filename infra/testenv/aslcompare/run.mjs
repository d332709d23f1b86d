// Runs scripted scenarios of a state machine in aws-local-stepfunctions, an independent
// interpreter of the Amazon States Language, for shared/flowtest's TestSecondInterpreter.
//
// stdin:  {"definition": <ASL object>, "taskStates": [names], "context": {...},
//          "scenarios": [{"name", "input", "answers": {key: [answer...]}}]}
//         key is the payload's "action", or "issue/<chunk>" for a chunk; an answer is
//         {"output": <value>} or {"error": <name>, "cause": <string>}; the last one repeats.
// stdout: one result per scenario: {"name", "top": [states entered, in order],
//         "iterations": {index: [states]}, "attempts": {"<index>/<state>#n": attempts},
//         "status", "output" | "error" + "cause"}
import { StateMachine } from 'aws-local-stepfunctions';

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node 22); Node 20 lacks it. This is
// its standard definition (ES2024), used only when the runtime has none.
Promise.withResolvers ??= function withResolvers() {
  let resolve, reject;
  const promise = new this((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const spec = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function keyOf(payload) {
  if (payload && typeof payload === 'object' && 'action' in payload) return payload.action;
  return `issue/${payload?.chunk}`;
}

// Validating the definition (asl-validator) is the slow part: once for all scenarios.
const machine = new StateMachine(spec.definition, { validationOptions: { checkArn: false } });

async function runScenario(sc) {
  const calls = {};
  const handler = (wrapped) => async (params) => {
    const payload = params.Payload;
    const key = keyOf(payload);
    const list = sc.answers[key];
    if (!list || list.length === 0) throw Object.assign(new Error(`no scripted answer for ${key}`), { name: 'Script.Missing' });
    const n = calls[key] ?? 0;
    calls[key] = n + 1;
    const a = list[Math.min(n, list.length - 1)];
    if (a.error) {
      const e = new Error(a.cause);
      e.name = a.error;
      throw e;
    }
    // lambda:invoke returns the invocation's response; .waitForTaskToken the task's output.
    return wrapped ? { ExecutedVersion: '$LATEST', Payload: a.output, StatusCode: 200 } : a.output;
  };
  const overrides = { taskResourceLocalHandlers: {}, retryIntervalOverrides: {} };
  for (const [name, wrapped] of Object.entries(spec.taskStates)) {
    overrides.taskResourceLocalHandlers[name] = handler(wrapped);
    overrides.retryIntervalOverrides[name] = 0;
  }
  const exec = machine.run(sc.input, { overrides, context: spec.context });
  const top = [];
  const iterations = {};
  const attempts = {};
  const entered = {}; // index/state -> entry number
  const logs = (async () => {
    for await (const ev of exec.eventLogs) {
      const idx = ev.index;
      if (ev.type === 'StateEntered') {
        if (idx === undefined) top.push(ev.state.name);
        else (iterations[idx] ??= []).push(ev.state.name);
        const k = `${idx ?? ''}/${ev.state.name}`;
        entered[k] = (entered[k] ?? 0) + 1;
        attempts[`${k}#${entered[k]}`] = 1;
      } else if (ev.type === 'StateRetried') {
        const k = `${idx ?? ''}/${ev.state.name}`;
        attempts[`${k}#${entered[k]}`] += 1;
      }
    }
  })();
  const out = { name: sc.name, top, iterations, attempts };
  try {
    out.output = await exec.result;
    out.status = 'SUCCEEDED';
  } catch (err) {
    const inner = err.cause instanceof Error ? err.cause : err;
    out.status = 'FAILED';
    out.error = inner.name;
    out.cause = inner.message;
  }
  await logs;
  return out;
}

const results = [];
for (const sc of spec.scenarios) results.push(await runScenario(sc));
process.stdout.write(JSON.stringify(results));
