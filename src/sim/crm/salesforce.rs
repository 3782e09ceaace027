//! The simulated Salesforce REST API: SOQL queries with `nextRecordsUrl`, and Account, Contact and
//! Task create, read, update and upsert by external id.
// Checks return the simulator's finished answer as their error, as the handlers send it.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::state::{
    FaultKind, Inner, Provider, QueryCursor, SimRecord, SimState, TokenCheck, check_token,
    random_token, salesforce_insert, salesforce_touch,
};

type Shared = Arc<SimState>;

/// External ID fields per object.
const EXTERNAL_IDS: [(&str, &str); 1] = [("Task", "Debrief_Push_Key__c")];
const TASK_STATUSES: [&str; 5] = [
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
];
const TASK_PRIORITIES: [&str; 3] = ["High", "Normal", "Low"];

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/services/data/{version}/query", get(query))
        .route("/services/data/{version}/query/", get(query))
        .route("/services/data/{version}/query/{locator}", get(query_more))
        .route("/services/data/{version}/limits", get(limits))
        .route(
            "/services/data/{version}/sobjects/{object}",
            axum::routing::post(create),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/",
            axum::routing::post(create),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{id}",
            get(read_one).patch(update).delete(remove),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{field}/{value}",
            get(read_by_external_id).patch(upsert),
        )
        .with_state(state)
}

/// The bearer token of a request.
pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)?
                .to_str()
                .ok()?
                .strip_prefix("bearer ")
        })
        .map(str::to_owned)
}

fn errors(status: StatusCode, code: &str, message: &str, fields: Option<Vec<&str>>) -> Response {
    let mut e = json!({"message": message, "errorCode": code});
    if let Some(f) = fields {
        e["fields"] = json!(f);
    }
    (status, axum::Json(json!([e]))).into_response()
}

struct Gate {
    org: String,
    hang: bool,
    usage: u64,
}

fn version_ok(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| (31.0..=68.0).contains(&n) && v.contains('.'))
}

fn gate(
    state: &SimState,
    inner: &mut Inner,
    headers: &HeaderMap,
    version: &str,
) -> Result<Gate, Response> {
    if !version_ok(version) {
        return Err(errors(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        ));
    }
    let token = bearer(headers);
    let org = match check_token(inner, token.as_deref(), Provider::Salesforce) {
        TokenCheck::Valid(org) => org,
        _ => {
            return Err(errors(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
                None,
            ));
        }
    };
    let mut hang = false;
    match inner.take_fault(Provider::Salesforce) {
        Some(FaultKind::RateLimited) => {
            inner.stats.rate_limited += 1;
            return Err(errors(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
                None,
            ));
        }
        Some(FaultKind::ServerError) => {
            return Err(errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567-89 (-1)",
                None,
            ));
        }
        Some(FaultKind::Unauthorized) => {
            return Err(errors(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
                None,
            ));
        }
        Some(FaultKind::TimeoutAfterCreate) => hang = true,
        None => {}
    }
    let limit = state.config.salesforce_daily_limit;
    let Some(o) = inner.orgs.get_mut(&org) else {
        return Err(errors(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
            None,
        ));
    };
    if o.api_usage >= limit {
        inner.stats.rate_limited += 1;
        return Err(errors(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
            None,
        ));
    }
    o.api_usage += 1;
    let usage = o.api_usage;
    inner.stats.api_calls += 1;
    Ok(Gate { org, hang, usage })
}

fn answer(state: &SimState, gate: &Gate, status: StatusCode, body: Option<Value>) -> Response {
    let mut r = match body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "api-usage={}/{}",
        gate.usage, state.config.salesforce_daily_limit
    )) {
        r.headers_mut().insert("Sforce-Limit-Info", v);
    }
    r
}

fn record_json(version: &str, object: &str, r: &SimRecord, fields: Option<&[String]>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("attributes".into(), json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{}", r.id)}));
    match fields {
        Some(fs) => {
            for f in fs {
                out.insert(
                    f.clone(),
                    r.properties
                        .get(f)
                        .map(|v| field_value(f, v))
                        .unwrap_or(Value::Null),
                );
            }
        }
        None => {
            for (k, v) in &r.properties {
                out.insert(k.clone(), field_value(k, v));
            }
        }
    }
    Value::Object(out)
}

fn field_value(name: &str, v: &str) -> Value {
    match name {
        "IsClosed" | "IsDeleted" => Value::Bool(v == "true"),
        _ => Value::String(v.to_owned()),
    }
}

// ---- SOQL ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some(e @ ('\'' | '\\' | '"' | '%' | '_')) => {
                                if matches!(e, '%' | '_') {
                                    v.push('\\');
                                }
                                v.push(*e);
                            }
                            Some('n') => v.push('\n'),
                            _ => return Err("invalid escape sequence".into()),
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
        } else if "(),".contains(c) {
            out.push(Tok::Sym(c.to_string()));
            i += 1;
        } else if "=<>!".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["!=", "<=", ">=", "<>"].contains(&two.as_str()) {
                out.push(Tok::Sym(two));
                i += 2;
            } else {
                out.push(Tok::Sym(c.to_string()));
                i += 1;
            }
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"(),=<>!'".contains(chars[i]) {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct Cond {
    field: String,
    op: String,
    values: Vec<Option<String>>,
}

#[derive(Debug)]
struct Soql {
    fields: Vec<String>,
    object: String,
    conds: Vec<Cond>,
    order: Vec<(String, bool)>,
    limit: Option<usize>,
}

fn kw(t: Option<&Tok>, k: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
}

fn literal(t: Option<&Tok>) -> Result<Option<String>, String> {
    match t {
        Some(Tok::Str(s)) => Ok(Some(s.clone())),
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(None),
        Some(Tok::Word(w)) => Ok(Some(w.clone())),
        _ => Err("expected a value".into()),
    }
}

fn parse_soql(q: &str) -> Result<Soql, String> {
    let toks = tokenize(q)?;
    let mut i = 0;
    if !kw(toks.get(i), "SELECT") {
        return Err("unexpected token: expected SELECT".into());
    }
    i += 1;
    let mut fields = Vec::new();
    loop {
        match toks.get(i) {
            Some(Tok::Word(w)) if !w.eq_ignore_ascii_case("FROM") => fields.push(w.clone()),
            _ => return Err("expected a field name".into()),
        }
        i += 1;
        if toks.get(i) == Some(&Tok::Sym(",".into())) {
            i += 1;
            continue;
        }
        break;
    }
    if !kw(toks.get(i), "FROM") {
        return Err("unexpected token: expected FROM".into());
    }
    i += 1;
    let object = match toks.get(i) {
        Some(Tok::Word(w)) => w.clone(),
        _ => return Err("expected an object name".into()),
    };
    i += 1;
    let mut conds = Vec::new();
    if kw(toks.get(i), "WHERE") {
        i += 1;
        loop {
            let field = match toks.get(i) {
                Some(Tok::Word(w)) => w.clone(),
                _ => return Err("expected a field in WHERE".into()),
            };
            i += 1;
            let op = match toks.get(i) {
                Some(Tok::Sym(s))
                    if ["=", "!=", "<>", "<", ">", "<=", ">="].contains(&s.as_str()) =>
                {
                    s.clone()
                }
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("LIKE") => "LIKE".into(),
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => "IN".into(),
                _ => return Err("expected an operator".into()),
            };
            i += 1;
            let values = if op == "IN" {
                if toks.get(i) != Some(&Tok::Sym("(".into())) {
                    return Err("expected ( after IN".into());
                }
                i += 1;
                let mut vs = Vec::new();
                loop {
                    vs.push(literal(toks.get(i))?);
                    i += 1;
                    match toks.get(i) {
                        Some(Tok::Sym(s)) if s == "," => i += 1,
                        Some(Tok::Sym(s)) if s == ")" => {
                            i += 1;
                            break;
                        }
                        _ => return Err("expected , or )".into()),
                    }
                }
                vs
            } else {
                let v = literal(toks.get(i))?;
                i += 1;
                vec![v]
            };
            conds.push(Cond { field, op, values });
            if kw(toks.get(i), "AND") {
                i += 1;
                continue;
            }
            break;
        }
    }
    let mut order = Vec::new();
    if kw(toks.get(i), "ORDER") {
        i += 1;
        if !kw(toks.get(i), "BY") {
            return Err("expected BY".into());
        }
        i += 1;
        loop {
            let f = match toks.get(i) {
                Some(Tok::Word(w)) => w.clone(),
                _ => return Err("expected a field in ORDER BY".into()),
            };
            i += 1;
            let mut asc = true;
            if kw(toks.get(i), "ASC") {
                i += 1;
            } else if kw(toks.get(i), "DESC") {
                asc = false;
                i += 1;
            }
            order.push((f, asc));
            if toks.get(i) == Some(&Tok::Sym(",".into())) {
                i += 1;
                continue;
            }
            break;
        }
    }
    let mut limit = None;
    if kw(toks.get(i), "LIMIT") {
        i += 1;
        limit = match toks.get(i) {
            Some(Tok::Word(n)) => Some(n.parse::<usize>().map_err(|_| "LIMIT needs a number")?),
            _ => return Err("LIMIT needs a number".into()),
        };
        i += 1;
    }
    if i != toks.len() {
        return Err(format!("unexpected token at position {i}"));
    }
    Ok(Soql {
        fields,
        object,
        conds,
        order,
        limit,
    })
}

fn is_datetime_field(f: &str) -> bool {
    matches!(f, "SystemModstamp" | "LastModifiedDate" | "CreatedDate")
}

fn time_of(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(v)
        .or_else(|_| chrono::DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn like(have: &str, pattern: &str) -> bool {
    // `%` any run, `_` one character; `\%` and `\_` literal. Case-insensitive as SOQL is.
    fn go(h: &[char], p: &[char]) -> bool {
        match p.first() {
            None => h.is_empty(),
            Some('\\') if p.len() > 1 => h.first() == Some(&p[1]) && go(&h[1..], &p[2..]),
            Some('%') => (0..=h.len()).any(|k| go(&h[k..], &p[1..])),
            Some('_') => !h.is_empty() && go(&h[1..], &p[1..]),
            Some(c) => h.first() == Some(c) && go(&h[1..], &p[1..]),
        }
    }
    let h: Vec<char> = have.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&h, &p)
}

fn cond_ok(r: &SimRecord, c: &Cond) -> Result<bool, String> {
    let have = r.properties.get(&c.field).map(String::as_str);
    let cmp = |want: &Option<String>| -> Result<Option<std::cmp::Ordering>, String> {
        let (Some(h), Some(w)) = (have, want.as_deref()) else {
            return Ok(None);
        };
        if is_datetime_field(&c.field) {
            let w = time_of(w).ok_or(format!("value of filter criterion for field '{}' must be of type dateTime and should not be enclosed in quotes", c.field))?;
            return Ok(time_of(h).map(|h| h.cmp(&w)));
        }
        Ok(Some(h.to_lowercase().cmp(&w.to_lowercase())))
    };
    use std::cmp::Ordering::*;
    let v = &c.values[0];
    Ok(match c.op.as_str() {
        "=" => match v {
            None => have.is_none(),
            Some(_) => cmp(v)? == Some(Equal),
        },
        "!=" | "<>" => match v {
            None => have.is_some(),
            Some(_) => cmp(v)? != Some(Equal),
        },
        "<" => cmp(v)? == Some(Less),
        ">" => cmp(v)? == Some(Greater),
        "<=" => matches!(cmp(v)?, Some(Less | Equal)),
        ">=" => matches!(cmp(v)?, Some(Greater | Equal)),
        "LIKE" => have.is_some_and(|h| like(h, v.as_deref().unwrap_or(""))),
        "IN" => have.is_some_and(|h| c.values.iter().flatten().any(|w| w.eq_ignore_ascii_case(h))),
        _ => false,
    })
}

fn run_query(
    inner: &Inner,
    org: &str,
    version: &str,
    q: &Soql,
) -> Result<Vec<Value>, (String, String)> {
    let malformed = |m: String| ("MALFORMED_QUERY".to_owned(), m);
    let Some(o) = inner.orgs.get(org) else {
        return Err(malformed("no org".into()));
    };
    if super::state::salesforce_prefix(&q.object).is_none() {
        return Err((
            "INVALID_TYPE".into(),
            format!("sObject type '{}' is not supported.", q.object),
        ));
    }
    let known = known_fields(&q.object);
    for f in q
        .fields
        .iter()
        .chain(q.conds.iter().map(|c| &c.field))
        .chain(q.order.iter().map(|(f, _)| f))
    {
        let base = f.split('.').next().unwrap_or(f);
        if !(known.contains(&f.as_str())
            || (f.contains('.') && base == "Account" && q.object == "Contact"))
        {
            return Err((
                "INVALID_FIELD".into(),
                format!("No such column '{f}' on entity '{}'.", q.object),
            ));
        }
    }
    let empty = BTreeMap::new();
    let records = o.objects.get(&q.object).unwrap_or(&empty);
    let mut rows: Vec<&SimRecord> = Vec::new();
    for r in records.values().filter(|r| !r.archived) {
        let mut ok = true;
        for c in &q.conds {
            if !cond_ok(r, c).map_err(malformed)? {
                ok = false;
                break;
            }
        }
        if ok {
            rows.push(r);
        }
    }
    rows.sort_by(|a, b| {
        for (f, asc) in &q.order {
            let (x, y) = (a.properties.get(f), b.properties.get(f));
            let o = if is_datetime_field(f) {
                x.and_then(|x| time_of(x)).cmp(&y.and_then(|y| time_of(y)))
            } else {
                x.cmp(&y)
            };
            let o = if *asc { o } else { o.reverse() };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    if let Some(l) = q.limit {
        rows.truncate(l);
    }
    let accounts = o.objects.get("Account");
    Ok(rows
        .into_iter()
        .map(|r| {
            let plain: Vec<String> = q.fields.iter().filter(|f| !f.contains('.')).cloned().collect();
            let mut v = record_json(version, &q.object, r, Some(&plain));
            for f in q.fields.iter().filter(|f| f.contains('.')) {
                let sub = f.split('.').nth(1).unwrap_or("");
                let account = r.properties.get("AccountId").and_then(|id| accounts.and_then(|a| a.get(id)));
                v["Account"] = match account {
                    Some(a) => {
                        let mut existing = v.get("Account").cloned().filter(Value::is_object).unwrap_or_else(|| {
                            json!({"attributes": {"type": "Account", "url": format!("/services/data/{version}/sobjects/Account/{}", a.id)}})
                        });
                        existing[sub] = a.properties.get(sub).map(|s| Value::String(s.clone())).unwrap_or(Value::Null);
                        existing
                    }
                    None => Value::Null,
                };
            }
            v
        })
        .collect())
}

fn known_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Account" => &[
            "Id",
            "Name",
            "Website",
            "Description",
            "Industry",
            "Phone",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
        ],
        "Contact" => &[
            "Id",
            "Name",
            "FirstName",
            "LastName",
            "Email",
            "Title",
            "AccountId",
            "Phone",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
        ],
        "Task" => &[
            "Id",
            "Subject",
            "Description",
            "ActivityDate",
            "Status",
            "Priority",
            "WhoId",
            "WhatId",
            "AccountId",
            "OwnerId",
            "IsClosed",
            "Type",
            "TaskSubtype",
            "Debrief_Push_Key__c",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
        ],
        _ => &[],
    }
}

fn writable_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Account" => &["Name", "Website", "Description", "Industry", "Phone"],
        "Contact" => &[
            "FirstName",
            "LastName",
            "Email",
            "Title",
            "AccountId",
            "Phone",
        ],
        "Task" => &[
            "Subject",
            "Description",
            "ActivityDate",
            "Status",
            "Priority",
            "WhoId",
            "WhatId",
            "OwnerId",
            "Type",
            "TaskSubtype",
            "Debrief_Push_Key__c",
        ],
        _ => &[],
    }
}

fn page(
    state: &SimState,
    inner: &mut Inner,
    version: &str,
    rows: Vec<Value>,
    offset: usize,
    cursor: Option<String>,
    total: usize,
) -> Value {
    let batch = state.config.salesforce_query_batch.max(1);
    let end = (offset + batch).min(rows.len());
    let records: Vec<Value> = rows[offset.min(rows.len())..end].to_vec();
    let done = end >= rows.len();
    let mut body = json!({"totalSize": total, "done": done, "records": records});
    if !done {
        let id = cursor.unwrap_or_else(|| format!("01g{}", &random_token("")[..15]));
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/{id}-{end}"));
        inner.cursors.insert(id, QueryCursor { rows, total });
    }
    body
}

async fn query(
    State(state): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Some(text) = q.get("q") else {
        return errors(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
            None,
        );
    };
    let soql = match parse_soql(text) {
        Ok(s) => s,
        Err(m) => return errors(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &m, None),
    };
    let rows = match run_query(&inner, &gate.org, &version, &soql) {
        Ok(r) => r,
        Err((code, m)) => return errors(StatusCode::BAD_REQUEST, &code, &m, None),
    };
    let total = rows.len();
    let body = page(&state, &mut inner, &version, rows, 0, None, total);
    answer(&state, &gate, StatusCode::OK, Some(body))
}

async fn query_more(
    State(state): State<Shared>,
    Path((version, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Some((id, offset)) = locator
        .rsplit_once('-')
        .and_then(|(id, o)| Some((id.to_owned(), o.parse::<usize>().ok()?)))
    else {
        return errors(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
            None,
        );
    };
    let Some(cursor) = inner.cursors.remove(&id) else {
        return errors(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
            None,
        );
    };
    let body = page(
        &state,
        &mut inner,
        &version,
        cursor.rows,
        offset,
        Some(id),
        cursor.total,
    );
    answer(&state, &gate, StatusCode::OK, Some(body))
}

async fn limits(
    State(state): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let max = state.config.salesforce_daily_limit;
    let body =
        json!({"DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(gate.usage)}});
    answer(&state, &gate, StatusCode::OK, Some(body))
}

/// Checks a write; returns the fields to store or the Salesforce error.
fn check_write(
    inner: &Inner,
    org: &str,
    object: &str,
    body: &Value,
    creating: bool,
) -> Result<BTreeMap<String, String>, Response> {
    let Some(map) = body.as_object() else {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "The body must be a JSON object",
            None,
        ));
    };
    let allowed = writable_fields(object);
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if k == "attributes" {
            continue;
        }
        if !allowed.contains(&k.as_str()) {
            let code = if known_fields(object).contains(&k.as_str()) {
                "INVALID_FIELD_FOR_INSERT_UPDATE"
            } else {
                "INVALID_FIELD"
            };
            return Err(errors(
                StatusCode::BAD_REQUEST,
                code,
                &format!("No such column '{k}' on sobject of type {object}"),
                None,
            ));
        }
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            Value::Null => {}
            Value::Number(n) => {
                out.insert(k.clone(), n.to_string());
            }
            Value::Bool(b) => {
                out.insert(k.clone(), b.to_string());
            }
            _ => {
                return Err(errors(
                    StatusCode::BAD_REQUEST,
                    "JSON_PARSER_ERROR",
                    &format!("Cannot deserialize value of field {k}"),
                    None,
                ));
            }
        }
    }
    let too_long = |f: &str, max: usize| out.get(f).is_some_and(|s| s.chars().count() > max);
    if too_long("Subject", 255) {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "STRING_TOO_LONG",
            "Subject: data value too large",
            Some(vec!["Subject"]),
        ));
    }
    if too_long("Description", 32_000) {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "STRING_TOO_LONG",
            "Description: data value too large",
            Some(vec!["Description"]),
        ));
    }
    if let Some(d) = out.get("ActivityDate")
        && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
    {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            &format!("Cannot deserialize value of type date from String \"{d}\""),
            None,
        ));
    }
    if let Some(s) = out.get("Status")
        && !TASK_STATUSES.contains(&s.as_str())
    {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            &format!("Status: bad value for restricted picklist field: {s}"),
            Some(vec!["Status"]),
        ));
    }
    if let Some(p) = out.get("Priority")
        && !TASK_PRIORITIES.contains(&p.as_str())
    {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            &format!("Priority: bad value for restricted picklist field: {p}"),
            Some(vec!["Priority"]),
        ));
    }
    let o = inner.orgs.get(org);
    for (f, target) in [
        ("WhoId", "Contact"),
        ("WhatId", "Account"),
        ("AccountId", "Account"),
    ] {
        if let Some(id) = out.get(f)
            && !o
                .and_then(|o| o.objects.get(target))
                .is_some_and(|m| m.contains_key(id))
        {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                Some(vec![f]),
            ));
        }
    }
    if creating {
        let required: &[&str] = match object {
            "Account" => &["Name"],
            "Contact" => &["LastName"],
            _ => &[],
        };
        for r in required {
            if !out.contains_key(*r) {
                return Err(errors(
                    StatusCode::BAD_REQUEST,
                    "REQUIRED_FIELD_MISSING",
                    &format!("Required fields are missing: [{r}]"),
                    Some(vec![r]),
                ));
            }
        }
        if object == "Task" && !out.contains_key("Status") {
            out.insert("Status".into(), "Not Started".into());
        }
        if object == "Task" && !out.contains_key("Priority") {
            out.insert("Priority".into(), "Normal".into());
        }
    }
    Ok(out)
}

fn derive(object: &str, r: &mut SimRecord) {
    if object == "Task" {
        let closed = r.properties.get("Status").is_some_and(|s| s == "Completed");
        r.properties.insert("IsClosed".into(), closed.to_string());
        if let Some(w) = r.properties.get("WhatId").cloned() {
            r.properties.insert("AccountId".into(), w);
        }
    }
    if object == "Contact" {
        let name = [r.properties.get("FirstName"), r.properties.get("LastName")]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        r.properties.insert("Name".into(), name);
    }
}

fn insert(
    inner: &mut Inner,
    org: &str,
    object: &str,
    fields: BTreeMap<String, String>,
) -> Option<String> {
    let o = inner.orgs.get_mut(org)?;
    let id = salesforce_insert(o, object, fields);
    if let Some(r) = o.objects.get_mut(object).and_then(|m| m.get_mut(&id)) {
        derive(object, r);
    }
    Some(id)
}

async fn create(
    State(state): State<Shared>,
    Path((version, object)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let (response, hang) = {
        let mut inner = state.lock();
        let gate = match gate(&state, &mut inner, &headers, &version) {
            Ok(g) => g,
            Err(r) => return r,
        };
        if super::state::salesforce_prefix(&object).is_none() {
            return errors(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested resource does not exist",
                None,
            );
        }
        let fields = match check_write(&inner, &gate.org, &object, &body, true) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if let Some((_, ext)) = EXTERNAL_IDS.iter().find(|(o, _)| *o == object)
            && let Some(v) = fields.get(*ext)
            && inner
                .orgs
                .get(&gate.org)
                .and_then(|o| o.objects.get(&object))
                .is_some_and(|m| m.values().any(|r| r.properties.get(*ext) == Some(v)))
        {
            return errors(
                StatusCode::BAD_REQUEST,
                "DUPLICATE_VALUE",
                &format!("duplicate value found: {ext} duplicates value on record with id"),
                Some(vec![ext]),
            );
        }
        let Some(id) = insert(&mut inner, &gate.org, &object, fields) else {
            return errors(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
                None,
            );
        };
        (
            answer(
                &state,
                &gate,
                StatusCode::CREATED,
                Some(json!({"id": id, "success": true, "errors": []})),
            ),
            gate.hang,
        )
    };
    if hang {
        tokio::time::sleep(state.config.hang_after_create).await;
    }
    response
}

async fn read_one(
    State(state): State<Shared>,
    Path((version, object, id)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let fields: Option<Vec<String>> = q
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let found = inner
        .orgs
        .get(&gate.org)
        .and_then(|o| o.objects.get(&object))
        .and_then(|m| m.get(&id))
        .filter(|r| !r.archived);
    match found {
        Some(r) => {
            let body = record_json(&version, &object, r, fields.as_deref());
            answer(&state, &gate, StatusCode::OK, Some(body))
        }
        None => errors(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        ),
    }
}

async fn update(
    State(state): State<Shared>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let fields = match check_write(&inner, &gate.org, &object, &body, false) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(r) = inner
        .orgs
        .get_mut(&gate.org)
        .and_then(|o| o.objects.get_mut(&object))
        .and_then(|m| m.get_mut(&id))
        .filter(|r| !r.archived)
    else {
        return errors(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        );
    };
    r.properties.extend(fields);
    derive(&object, r);
    salesforce_touch(r);
    answer(&state, &gate, StatusCode::NO_CONTENT, None)
}

async fn remove(
    State(state): State<Shared>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    match inner
        .orgs
        .get_mut(&gate.org)
        .and_then(|o| o.objects.get_mut(&object))
        .and_then(|m| m.get_mut(&id))
        .filter(|r| !r.archived)
    {
        Some(r) => {
            r.archived = true;
            answer(&state, &gate, StatusCode::NO_CONTENT, None)
        }
        None => errors(
            StatusCode::NOT_FOUND,
            "ENTITY_IS_DELETED",
            "entity is deleted",
            None,
        ),
    }
}

fn external_field(object: &str, field: &str) -> bool {
    field == "Id"
        || EXTERNAL_IDS
            .iter()
            .any(|(o, f)| *o == object && *f == field)
}

async fn read_by_external_id(
    State(state): State<Shared>,
    Path((version, object, field, value)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, &version) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if !external_field(&object, &field) {
        return errors(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Provided external ID field does not exist or is not accessible: {field}"),
            None,
        );
    }
    let fields: Option<Vec<String>> = q
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let matches: Vec<SimRecord> = inner
        .orgs
        .get(&gate.org)
        .and_then(|o| o.objects.get(&object))
        .map(|m| {
            m.values()
                .filter(|r| !r.archived && r.properties.get(&field) == Some(&value))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    match matches.as_slice() {
        [] => errors(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        ),
        [r] => {
            let body = record_json(&version, &object, r, fields.as_deref());
            answer(&state, &gate, StatusCode::OK, Some(body))
        }
        many => answer(
            &state,
            &gate,
            StatusCode::MULTIPLE_CHOICES,
            Some(json!(
                many.iter()
                    .map(|r| format!("/services/data/{version}/sobjects/{object}/{}", r.id))
                    .collect::<Vec<_>>()
            )),
        ),
    }
}

async fn upsert(
    State(state): State<Shared>,
    Path((version, object, field, value)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let (response, hang) = {
        let mut inner = state.lock();
        let gate = match gate(&state, &mut inner, &headers, &version) {
            Ok(g) => g,
            Err(r) => return r,
        };
        if field == "Id" || !external_field(&object, &field) {
            return errors(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("Provided external ID field does not exist or is not accessible: {field}"),
                None,
            );
        }
        let mut fields = match check_write(&inner, &gate.org, &object, &body, false) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if fields.get(&field).is_some_and(|v| *v != value) {
            return errors(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("{field} in the body does not match the URL"),
                Some(vec![&field]),
            );
        }
        fields.insert(field.clone(), value.clone());
        let ids: Vec<String> = inner
            .orgs
            .get(&gate.org)
            .and_then(|o| o.objects.get(&object))
            .map(|m| {
                m.values()
                    .filter(|r| !r.archived && r.properties.get(&field) == Some(&value))
                    .map(|r| r.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        match ids.as_slice() {
            [] => {
                let mut with_defaults = match check_write(
                    &inner,
                    &gate.org,
                    &object,
                    &Value::Object(
                        fields
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect(),
                    ),
                    true,
                ) {
                    Ok(f) => f,
                    Err(r) => return r,
                };
                with_defaults.insert(field.clone(), value.clone());
                let Some(id) = insert(&mut inner, &gate.org, &object, with_defaults) else {
                    return errors(
                        StatusCode::UNAUTHORIZED,
                        "INVALID_SESSION_ID",
                        "Session expired or invalid",
                        None,
                    );
                };
                (
                    answer(
                        &state,
                        &gate,
                        StatusCode::CREATED,
                        Some(json!({"id": id, "success": true, "errors": [], "created": true})),
                    ),
                    gate.hang,
                )
            }
            [id] => {
                let id = id.clone();
                if let Some(r) = inner
                    .orgs
                    .get_mut(&gate.org)
                    .and_then(|o| o.objects.get_mut(&object))
                    .and_then(|m| m.get_mut(&id))
                {
                    r.properties.extend(fields);
                    derive(&object, r);
                    salesforce_touch(r);
                }
                (
                    answer(
                        &state,
                        &gate,
                        StatusCode::OK,
                        Some(json!({"id": id, "success": true, "errors": [], "created": false})),
                    ),
                    gate.hang,
                )
            }
            many => (
                answer(
                    &state,
                    &gate,
                    StatusCode::MULTIPLE_CHOICES,
                    Some(json!(
                        many.iter()
                            .map(|id| format!("/services/data/{version}/sobjects/{object}/{id}"))
                            .collect::<Vec<_>>()
                    )),
                ),
                false,
            ),
        }
    };
    if hang {
        tokio::time::sleep(state.config.hang_after_create).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soql_of_debriefs_shapes_parses_and_bad_soql_is_refused() {
        let q = parse_soql("SELECT Id, Name, Website, SystemModstamp FROM Account WHERE SystemModstamp > 2025-01-01T00:00:00Z ORDER BY SystemModstamp, Id").unwrap();
        assert_eq!(q.object, "Account");
        assert_eq!(q.fields.len(), 4);
        assert_eq!(q.conds[0].op, ">");
        let q = parse_soql(
            "SELECT Id FROM Contact WHERE Email IN ('a@x.com', 'o\\'neil@y.com') LIMIT 5",
        )
        .unwrap();
        assert_eq!(q.conds[0].values[1].as_deref(), Some("o'neil@y.com"));
        assert_eq!(q.limit, Some(5));
        assert!(parse_soql("SELEC Id FROM Account").is_err());
        assert!(parse_soql("SELECT Id FROM Account WHERE Name = 'open").is_err());
        assert!(parse_soql("SELECT Id FROM Account LIMIT x").is_err());
    }

    #[test]
    fn like_follows_soql_wildcards() {
        assert!(like("jane@Acme.com", "%@acme.com"));
        assert!(!like("jane@notacme.org", "%@acme.com"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
    }
}
