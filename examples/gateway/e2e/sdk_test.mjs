// The official OpenAI Node SDK (npm "openai") against the gateway, as an application uses it.
// Run by gateway_e2e's "sdk" scenario, which starts fake_provider and two gateways and sets:
//   GATEWAY_URL          a gateway: groq serves llama-3.1-8b-instant and text-embedding-3-small,
//                        gemini serves gemini-2.0-flash with 1 request per day
//   LIMITED_GATEWAY_URL  a gateway with client_limit 2 per minute
//   OPENAI_SDK_DIR       where the test setup installed the openai package (npm install)
// Prints "ok: ..." per check; on a failure prints "FAILED: ..." and exits 1.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const { GATEWAY_URL, LIMITED_GATEWAY_URL, OPENAI_SDK_DIR } = process.env;
if (!GATEWAY_URL || !LIMITED_GATEWAY_URL || !OPENAI_SDK_DIR) {
  console.log('FAILED: set GATEWAY_URL, LIMITED_GATEWAY_URL and OPENAI_SDK_DIR (gateway_e2e sdk does)');
  process.exit(1);
}
const resolve = createRequire(join(OPENAI_SDK_DIR, 'index.js')).resolve;
const sdk = await import(pathToFileURL(resolve('openai')).href);
const OpenAI = sdk.OpenAI ?? sdk.default?.OpenAI ?? sdk.default;

function check(condition, message) {
  if (!condition) throw new Error(message);
}
async function json(url) {
  const answer = await fetch(url);
  check(answer.ok, `GET ${url}: ${answer.status}`);
  return answer.json();
}
async function tokensUsed(label) {
  const status = await json(`${GATEWAY_URL}/quota-status`);
  const key = status.keys.find((k) => k.label === label);
  check(key, `no key ${label} in /quota-status`);
  return key.limits.find((l) => l.metric === 'tokens' && l.window === 'day').used;
}
async function metric(line) {
  const text = await (await fetch(`${GATEWAY_URL}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}
let failed = false;
async function test(name, body) {
  try {
    await body();
    console.log(`  ok: ${name}`);
  } catch (error) {
    failed = true;
    console.log(`FAILED: ${name}: ${error?.stack ?? error}`);
  }
}

// The spent-day check needs a wait longer than max_retry_after (60 s): not in the last 90 s of a UTC day.
const toMidnight = 86_400_000 - (Date.now() % 86_400_000);
if (toMidnight < 90_000) {
  console.log(`  (waiting ${Math.ceil(toMidnight / 1000) + 5} s for the next UTC day)`);
  await new Promise((resolve) => setTimeout(resolve, toMidnight + 5000));
}

const client = new OpenAI({ baseURL: `${GATEWAY_URL}/v1`, apiKey: 'the-gateway-holds-the-keys' });
const prompt = [{ role: 'user', content: 'x'.repeat(40) }];  // 10 prompt tokens at the fake
const expected = Array.from({ length: 12 }, (_, i) => `token${String(i + 1).padStart(2, '0')} `).join('');

await test('plain chat completion', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'llama-3.1-8b-instant', messages: prompt })
    .withResponse();
  check(data.choices[0].message.content === 'Hello from the fake groq provider.', JSON.stringify(data));
  check(data.usage.total_tokens === 22, `usage ${JSON.stringify(data.usage)}`);
  check(response.headers.get('x-gateway-provider') === 'groq', 'X-Gateway-Provider');
  check((await tokensUsed('groq-1')) === 22, 'the usage is committed');
});

await test('streaming chat completion with the usage chunk', async () => {
  const stream = await client.chat.completions.create({
    model: 'llama-3.1-8b-instant',
    messages: prompt,
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) content += choice.delta?.content ?? '';
  }
  check(content === expected, `streamed content: '${content}'`);
  check(chunks >= 13, `${chunks} chunks`);
  check(usage && usage.total_tokens === 22, `usage chunk: ${JSON.stringify(usage)}`);
  check((await tokensUsed('groq-1')) === 44, 'the stream\'s reported usage is committed');
});

await test('streaming without asking for usage (the SDK sees no usage chunk)', async () => {
  const stream = await client.chat.completions.create({ model: 'llama-3.1-8b-instant', messages: prompt, stream: true });
  let content = '';
  for await (const chunk of stream) {
    check(chunk.choices.length > 0, `a chunk without choices reached the client: ${JSON.stringify(chunk)}`);
    content += chunk.choices[0].delta?.content ?? '';
  }
  check(content === expected, content);
  check((await tokensUsed('groq-1')) === 66, 'the gateway asked for the usage itself and committed it');
});

await test('models list', async () => {
  const ids = [];
  for await (const model of client.models.list()) {
    check(model.object === 'model' && typeof model.created === 'number' && model.owned_by, JSON.stringify(model));
    ids.push(model.id);
  }
  for (const id of ['llama-3.1-8b-instant', 'text-embedding-3-small', 'gemini-2.0-flash'])
    check(ids.includes(id), `${id} missing from ${ids}`);
  const one = await client.models.retrieve('gemini-2.0-flash');
  check(one.id === 'gemini-2.0-flash' && one.owned_by === 'gemini', JSON.stringify(one));
});

await test('embeddings (the SDK asks for base64 and decodes it)', async () => {
  const answer = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world!' });
  const vector = answer.data[0].embedding;
  check(Array.isArray(vector) && vector.length === 8 && vector[0] === 1 && vector[1] === 0.5, JSON.stringify(vector));
  check(answer.usage.prompt_tokens === 3, JSON.stringify(answer.usage));
});

await test('a per-client 429 (client_limit)', async () => {
  const limited = new OpenAI({ baseURL: `${LIMITED_GATEWAY_URL}/v1`, apiKey: 'x', maxRetries: 0 });
  for (let i = 0; i < 2; i++) await limited.chat.completions.create({ model: 'm', messages: prompt });
  try {
    await limited.chat.completions.create({ model: 'm', messages: prompt });
    check(false, 'the third request in a minute must be refused');
  } catch (error) {
    check(error instanceof OpenAI.RateLimitError, `${error}`);
    check(error.error?.type === 'client_rate_limited', JSON.stringify(error.error));
    const wait = Number(error.headers.get('retry-after'));
    check(wait >= 1 && wait <= 60 && error.headers.get('x-should-retry') === 'true', `retry-after ${wait}`);
  }
});

await test('an all-keys 429 on a spent day ends at once (no wait for a Retry-After of hours)', async () => {
  await client.chat.completions.create({ model: 'gemini-2.0-flash', messages: prompt });  // the day's one request
  const refusedBefore = await metric('keypool_gateway_requests_total{result="keys_exhausted"}');
  const started = Date.now();
  try {
    await client.chat.completions.create({ model: 'gemini-2.0-flash', messages: prompt });  // default maxRetries (2)
    check(false, 'the day is spent: the request must be refused');
  } catch (error) {
    const took = Date.now() - started;
    check(error instanceof OpenAI.RateLimitError, `${error}`);
    check(error.error?.type === 'all_keys_exhausted', JSON.stringify(error.error));
    check(took < 3000, `the call took ${took} ms`);
    check(error.headers.get('x-should-retry') === 'false', `x-should-retry ${error.headers.get('x-should-retry')}`);
    check(Number(error.headers.get('retry-after')) > 60, `retry-after ${error.headers.get('retry-after')}`);
    check(/T00:00:00Z$/.test(error.error.resumes_at), `resumes_at ${error.error.resumes_at}`);
    const refused = (await metric('keypool_gateway_requests_total{result="keys_exhausted"}')) - refusedBefore;
    check(refused === 1, `the SDK must not retry: the gateway refused ${refused} requests`);
    console.log(`  (refused in ${took} ms; Retry-After ${error.headers.get('retry-after')} s, resumes_at ${error.error.resumes_at})`);
  }
});

process.exit(failed ? 1 : 0);
