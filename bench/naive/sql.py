"""The naive baseline's statements: one per object resolved, parameters numbered per statement.

The read policy is the server's: `$1` tenant, `$2` viewer, `$3` whether the viewer is an admin
(admins see every content; others the published ones and their own).
"""

SETUP = (
    "select set_config('app.tenant_id', $1, true), set_config('statement_timeout', $2, true),"
    " set_config('transaction_read_only', $3, true), set_config('role', 'gql_app', true)"
)
VIEWER = (
    "select role, status from users where organization_id = $1 and id = $2 and deleted_at is null"
)
VISIBLE = "c.deleted_at is null and ($3::boolean or c.status = 'PUBLISHED' or c.author_id = $2)"
CONTENT = "select c.id, c.title, c.summary, c.difficulty, c.author_id from contents c"
ROOT_CONTENTS = (
    f"{CONTENT} where c.organization_id = $1 and {VISIBLE}"
    " order by c.created_at {direction}, c.id {direction} limit $4"
)
CONTENT_BY_ID = f"{CONTENT} where c.organization_id = $1 and {VISIBLE} and c.id = $4"
CONTENTS_BY_AUTHOR = (
    f"{CONTENT} where c.organization_id = $1 and {VISIBLE} and c.author_id = $4"
    " order by c.created_at {direction}, c.id {direction} limit $5"
)
SEARCH = (
    f"{CONTENT} where c.organization_id = $1 and {VISIBLE}"
    " and c.search_vector @@ websearch_to_tsquery('english', $4)"
    " order by ts_rank(c.search_vector, websearch_to_tsquery('english', $4)) desc, c.id desc"
    " limit $5"
)
USERS = (
    "select id, username from users where organization_id = $1 and deleted_at is null"
    " order by created_at, id limit $2"
)
USER_BY_ID = (
    "select id, username from users where organization_id = $1 and id = $2 and deleted_at is null"
)
PROFILE = "select bio from user_profiles where organization_id = $1 and user_id = $2"
TAGS = (
    "select t.name from tags t join content_tags ct"
    " on ct.organization_id = t.organization_id and ct.tag_id = t.id"
    " where ct.organization_id = $1 and ct.content_id = $2"
)
VISIBLE_CONTENT_IDS = f"(select c.id from contents c where c.organization_id = $1 and {VISIBLE})"
RATING_SUMMARY = (
    "select count(*) as count, avg(r.score) as average from ratings r"
    f" where r.organization_id = $1 and r.content_id = $4 and r.content_id in {VISIBLE_CONTENT_IDS}"
)
COMMENTS = (
    "select m.id, m.body, m.author_id from comments m"
    " where m.organization_id = $1 and m.{link} = $4 and {thread} m.deleted_at is null"
    f" and m.content_id in {VISIBLE_CONTENT_IDS}"
    " order by m.created_at, m.id limit $5"
)
THREADS = COMMENTS.format(link="content_id", thread="m.parent_id is null and")
REPLIES = COMMENTS.format(link="parent_id", thread="")
CONTENT_FOR_WRITE = (
    "select c.status, c.author_id from contents c"
    f" where c.organization_id = $1 and {VISIBLE} and c.id = $4 for share"
)
ADD_COMMENT = (
    "insert into comments (organization_id, id, content_id, author_id, parent_id, body,"
    " created_by, updated_by) values ($1, $2, $3, $4, null, $5, $4, $4)"
    " returning id, body, author_id"
)
RATE = (
    "insert into ratings (organization_id, content_id, user_id, score) values ($1, $2, $3, $4)"
    " on conflict (organization_id, content_id, user_id)"
    " do update set score = excluded.score, updated_at = now() returning score"
)
