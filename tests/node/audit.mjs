// The GraphQL-over-HTTP audit (graphql-http's serverAudits) against a running server; prints one
// JSON array of {id, name, status, reason}. Usage: node audit.mjs URL TOKEN
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } });
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
