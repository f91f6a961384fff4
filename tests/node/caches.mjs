// A screen through the normalized caches of Apollo Client (InMemoryCache) and urql (Graphcache),
// both as they come, without typePolicies, keyFields or keys: the screen query, then rateContent
// and updateProfile, then the screen read again from each cache alone. Prints one JSON report.
// Usage: node caches.mjs URL TOKEN CONTENT_ID
import { ApolloClient, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { Kind, parse, print, visit } from 'graphql';

const [url, token, contentId] = process.argv.slice(2);

// Types that are not entities by design: graphcache embeds these without a warning (its own
// pattern), and Apollo stores them inside their parent.
const NOT_ENTITIES = /^__|PageInfo|(Connection|Edge)$/;

// `__typename` written in every selection: urql adds it for itself but leaves it out of the
// answer, and the report needs it to tell entities from connections.
const typenames = (query) =>
  print(
    visit(parse(query), {
      SelectionSet(node, _key, parent) {
        if (parent.kind === Kind.OPERATION_DEFINITION) return undefined;
        const typename = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };
        return { ...node, selections: [typename, ...node.selections] };
      },
    }),
  );

const SCREEN = typenames(`
  query Screen {
    viewer {
      id username
      profile { id bio }
      ratings(first: 5) { edges { node { id score user { id username } content { id title } } } }
    }
    contents(first: 5) {
      edges {
        cursor
        node {
          id title
          author { id username profile { id bio avatarUrl } }
          ratingSummary { id count average }
          viewerRating { id score user { id username } }
          comments(first: 3) {
            edges { node { id body author { id username } } }
            pageInfo { hasNextPage endCursor }
          }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }`);

// What a screen asks of the server after a change: the changed objects, by id, and nothing else.
const RATE = `
  mutation Rate($input: RateContentInput!) {
    rateContent(input: $input) {
      rating { id score user { id username } }
      content { id viewerRating { id score } ratingSummary { id count average } }
      userErrors { field message code }
    }
  }`;

const UPDATE_PROFILE = `
  mutation UpdateProfile($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      profile { id bio }
      userErrors { field message code }
    }
  }`;

const captured = [];
for (const level of ['warn', 'error']) {
  console[level] = (...args) => captured.push(args.map(String).join(' '));
}

function counting() {
  const counter = { requests: 0 };
  counter.fetch = (input, init = {}) => {
    counter.requests += 1;
    return fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } });
  };
  return counter;
}

// Every object of an answer that is not a connection, edge or page info: {typename, id}.
function objects(value, found = []) {
  if (Array.isArray(value)) value.forEach((item) => objects(item, found));
  else if (value && typeof value === 'object') {
    if (value.__typename && !NOT_ENTITIES.test(value.__typename)) {
      found.push({ typename: value.__typename, id: value.id ?? null });
    }
    Object.values(value).forEach((item) => objects(item, found));
  }
  return found;
}

// Objects an Apollo cache holds inside the fields of another (not normalized), by typename.
function embedded(value, found = new Set()) {
  if (Array.isArray(value)) value.forEach((item) => embedded(item, found));
  else if (value && typeof value === 'object') {
    if (value.__typename && !value.__ref) found.add(value.__typename);
    Object.values(value).forEach((item) => embedded(item, found));
  }
  return found;
}

// A value without the `__typename`s the clients add to every selection.
function plain(value) {
  if (Array.isArray(value)) return value.map(plain);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).filter(([key]) => key !== '__typename').map(([key, item]) => [key, plain(item)]),
  );
}

function screenFacts(data) {
  const content = data.contents.edges.map((edge) => edge.node).find((node) => node.id === contentId);
  return plain({
    summary: content ? content.ratingSummary : null,
    viewerRating: content ? content.viewerRating : null,
    profile: data.viewer.profile,
  });
}

function newBio(client) {
  return `bio written through ${client}`;
}

async function apollo(score) {
  const counter = counting();
  const cache = new InMemoryCache();
  const client = new ApolloClient({ link: new HttpLink({ uri: url, fetch: counter.fetch }), cache });
  const screen = apolloGql(SCREEN);
  const first = await client.query({ query: screen, fetchPolicy: 'network-only' });
  const seen = objects(first.data);
  const stored = cache.extract();
  const unnormalized = seen.filter((object) => {
    const key = cache.identify({ __typename: object.typename, id: object.id });
    return !key || !(key in stored);
  });
  const inside = new Set();
  Object.values(stored).forEach((entity) => Object.values(entity).forEach((field) => embedded(field, inside)));
  const embeddedTypes = [...inside].filter((name) => !NOT_ENTITIES.test(name));
  const rated = await client.mutate({
    mutation: apolloGql(RATE),
    variables: { input: { contentId, score } },
  });
  const updated = await client.mutate({
    mutation: apolloGql(UPDATE_PROFILE),
    variables: { input: { bio: newBio('apollo') } },
  });
  const after = client.readQuery({ query: screen });  // the cache alone: null if anything is missing
  return {
    objects: seen.length,
    types: [...new Set(seen.map((object) => object.typename))].sort(),
    unnormalized,
    embedded: embeddedTypes,
    before: screenFacts(first.data),
    mutation: plain({
      rateErrors: rated.data.rateContent.userErrors,
      summary: rated.data.rateContent.content.ratingSummary,
      profileErrors: updated.data.updateProfile.userErrors,
      profile: updated.data.updateProfile.profile,
    }),
    after: after && screenFacts(after),
    bio: newBio('apollo'),
    score,
    requests: counter.requests,
  };
}

async function urql(score) {
  const counter = counting();
  const client = new Client({ url, fetch: counter.fetch, exchanges: [cacheExchange({}), fetchExchange] });
  const screen = urqlGql(SCREEN);
  const first = await client.query(screen, {}, { requestPolicy: 'network-only' }).toPromise();
  if (first.error) throw first.error;
  const seen = objects(first.data);
  const rated = await client.mutation(urqlGql(RATE), { input: { contentId, score } }).toPromise();
  const updated = await client
    .mutation(urqlGql(UPDATE_PROFILE), { input: { bio: newBio('urql') } })
    .toPromise();
  const after = await client.query(screen, {}, { requestPolicy: 'cache-only' }).toPromise();
  return {
    objects: seen.length,
    types: [...new Set(seen.map((object) => object.typename))].sort(),
    unnormalized: seen.filter((object) => object.id === null),
    before: screenFacts(first.data),
    mutation: plain({
      rateErrors: rated.data.rateContent.userErrors,
      summary: rated.data.rateContent.content.ratingSummary,
      profileErrors: updated.data.updateProfile.userErrors,
      profile: updated.data.updateProfile.profile,
    }),
    after: after.data ? screenFacts(after.data) : null,
    stale: Boolean(after.stale),
    bio: newBio('urql'),
    score,
    requests: counter.requests,
  };
}

// Different scores, so that the second client's rating changes the summary too.
const report = { apollo: await apollo(5) };
report.apolloWarnings = captured.splice(0);
report.urql = await urql(1);
// Graphcache's warnings end in its code: "...#15" (no key for an entity), "#16" (an ambiguous
// fragment match), and so on.
report.urqlWarnings = captured.splice(0).map((message) => ({
  code: Number((message.match(/#(\d+)\s*$/) || [])[1] ?? NaN),
  message,
}));
process.stdout.write(JSON.stringify(report) + '\n');
