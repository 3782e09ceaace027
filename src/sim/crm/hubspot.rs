//! The simulated HubSpot CRM v3 objects API: contacts, companies, notes and tasks.
// Checks return the simulator's finished answer as their error, as the handlers send it.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::state::{
    Association, FaultKind, Inner, Provider, SimRecord, SimState, TokenCheck, check_token,
    hubspot_insert, hubspot_touch,
};

type Shared = Arc<SimState>;

const OBJECTS: [&str; 4] = ["contacts", "companies", "notes", "tasks"];
const SEARCH_BODY_MAX: usize = 3000;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/crm/v3/objects/{object}", get(list).post(create))
        .route("/crm/v3/owners", get(owners))
        .route("/crm/v3/owners/", get(owners))
        .route("/crm/v3/objects/{object}/search", post(search))
        .route("/crm/v3/objects/{object}/batch/read", post(batch_read))
        .route(
            "/crm/v3/objects/{object}/{id}",
            get(read_one).patch(update).delete(archive),
        )
        .route(
            "/crm/v3/objects/{object}/{id}/associations/{to}",
            get(list_associations),
        )
        .route(
            "/crm/v3/objects/{object}/{id}/associations/{to}/{to_id}/{type_id}",
            put(associate),
        )
        .with_state(state)
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "status": "error",
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "category": category,
        })),
    )
        .into_response()
}

struct Gate {
    hub: u64,
    hang: bool,
    remaining: Option<u32>,
}

/// Token, faults and rate limits, in that order, for one API call.
fn gate(
    state: &SimState,
    inner: &mut Inner,
    headers: &HeaderMap,
    search: bool,
) -> Result<Gate, Response> {
    let token = super::salesforce::bearer(headers);
    let hub = match check_token(inner, token.as_deref(), Provider::Hubspot) {
        TokenCheck::Valid(account) => account.parse::<u64>().unwrap_or_default(),
        TokenCheck::Expired(ago) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "EXPIRED_AUTHENTICATION",
                &format!(
                    "The OAuth token used to make this call expired {} second(s) ago.",
                    ago.as_secs()
                ),
            ));
        }
        TokenCheck::Invalid => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            ));
        }
    };
    let mut hang = false;
    match inner.take_fault(Provider::Hubspot) {
        Some(FaultKind::RateLimited) => {
            inner.stats.rate_limited += 1;
            return Err(rate_limited(
                "TEN_SECONDLY_ROLLING",
                state.config.hubspot_calls_per_10s,
                0,
            ));
        }
        Some(FaultKind::ServerError) => {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal error",
            ));
        }
        Some(FaultKind::Unauthorized) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired 1 second(s) ago.",
            ));
        }
        Some(FaultKind::TimeoutAfterCreate) => hang = true,
        None => {}
    }
    let limit = state.config.hubspot_calls_per_10s;
    let per_second = state.config.hubspot_searches_per_second;
    let Some(portal) = inner.portals.get_mut(&hub) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "unknown portal",
        ));
    };
    let now = Instant::now();
    let remaining = if search {
        while portal
            .searches
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(1))
        {
            portal.searches.pop_front();
        }
        if portal.searches.len() >= per_second as usize {
            inner.stats.rate_limited += 1;
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITS",
                "You have reached your secondly limit.",
            ));
        }
        portal.searches.push_back(now);
        None
    } else {
        while portal
            .calls
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(10))
        {
            portal.calls.pop_front();
        }
        if portal.calls.len() >= limit as usize {
            inner.stats.rate_limited += 1;
            return Err(rate_limited("TEN_SECONDLY_ROLLING", limit, 0));
        }
        portal.calls.push_back(now);
        Some(limit.saturating_sub(portal.calls.len() as u32))
    };
    inner.stats.api_calls += 1;
    Ok(Gate {
        hub,
        hang,
        remaining,
    })
}

fn rate_limited(policy: &str, max: u32, remaining: u32) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "policyName": policy,
        })),
    )
        .into_response();
    add_limit_headers(&mut r, max, remaining);
    r
}

fn add_limit_headers(r: &mut Response, max: u32, remaining: u32) {
    let h = r.headers_mut();
    h.insert(
        "X-HubSpot-RateLimit-Interval-Milliseconds",
        HeaderValue::from_static("10000"),
    );
    h.insert("X-HubSpot-RateLimit-Max", HeaderValue::from(max));
    h.insert(
        "X-HubSpot-RateLimit-Remaining",
        HeaderValue::from(remaining),
    );
}

fn answer(state: &SimState, gate: &Gate, status: StatusCode, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if let Some(rem) = gate.remaining {
        add_limit_headers(&mut r, state.config.hubspot_calls_per_10s, rem);
    }
    r
}

fn check_object(object: &str) -> Result<(), Response> {
    if OBJECTS.contains(&object) {
        Ok(())
    } else {
        Err(error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("Unable to infer object type from: {object}"),
        ))
    }
}

fn default_properties(object: &str) -> &'static [&'static str] {
    match object {
        "contacts" => &["firstname", "lastname", "email"],
        "companies" => &["name", "domain"],
        "notes" => &["hs_timestamp"],
        _ => &["hs_task_subject", "hs_task_status", "hs_timestamp"],
    }
}

fn modified_property(object: &str) -> &'static str {
    if object == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

fn record_json(object: &str, r: &SimRecord, wanted: Option<&[String]>) -> Value {
    let mut props = serde_json::Map::new();
    let always = ["hs_object_id", "createdate", modified_property(object)];
    let names: Vec<String> = match wanted {
        Some(w) if !w.is_empty() => w.to_vec(),
        _ => default_properties(object)
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    for n in names.iter().map(String::as_str).chain(always) {
        props.insert(
            n.to_owned(),
            r.properties
                .get(n)
                .map(|v| Value::String(v.clone()))
                .unwrap_or(Value::Null),
        );
    }
    json!({
        "id": r.id,
        "properties": props,
        "createdAt": r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updatedAt": r.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "archived": r.archived,
    })
}

/// The query string with repeated keys joined by commas: HubSpot takes `properties=a,b` and
/// `properties=a&properties=b` alike (its generated clients send the second).
fn query_map(raw: Option<String>) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        map.entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    map
}

fn csv_param(q: &HashMap<String, String>, name: &str) -> Option<Vec<String>> {
    q.get(name).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn association_label(from: &str, to: &str) -> String {
    let single = |o: &str| o.trim_end_matches('s').replace("companie", "company");
    format!("{}_to_{}", single(from), single(to))
}

/// Records of `to` associated with `object`/`id`, both directions.
fn associated(inner: &Inner, hub: u64, object: &str, id: &str, to: &str) -> Vec<String> {
    let Some(portal) = inner.portals.get(&hub) else {
        return Vec::new();
    };
    let mut ids: Vec<u64> = Vec::new();
    if let Some(rs) = portal.objects.get(to) {
        for r in rs.values().filter(|r| !r.archived) {
            if r.associations
                .iter()
                .any(|a| a.to_type == object && a.to_id == id)
            {
                ids.extend(r.id.parse::<u64>().ok());
            }
        }
    }
    if let Some(me) = portal
        .objects
        .get(object)
        .and_then(|m| m.get(&id.parse::<u64>().unwrap_or(0)))
    {
        for a in me.associations.iter().filter(|a| a.to_type == to) {
            ids.extend(a.to_id.parse::<u64>().ok());
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(|i| i.to_string()).collect()
}

async fn list(
    State(state): State<Shared>,
    Path(object): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    if let Err(r) = check_object(&object) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let limit: usize = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "limit must be between 1 and 100",
            );
        }
    };
    let after: u64 = match q.get("after").map(|a| a.parse::<u64>()) {
        None => 0,
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "after is not a valid paging cursor",
            );
        }
    };
    let archived = q.get("archived").map(String::as_str) == Some("true");
    let props = csv_param(&q, "properties");
    let assoc = csv_param(&q, "associations").unwrap_or_default();
    let empty = BTreeMap::new();
    let records = inner
        .portals
        .get(&gate.hub)
        .and_then(|p| p.objects.get(&object))
        .unwrap_or(&empty);
    let page: Vec<&SimRecord> = records
        .range(after..)
        .map(|(_, r)| r)
        .filter(|r| r.archived == archived)
        .take(limit + 1)
        .collect();
    let next = page.get(limit).map(|r| r.id.clone());
    let results: Vec<Value> = page
        .iter()
        .take(limit)
        .map(|r| {
            let mut v = record_json(&object, r, props.as_deref());
            if !assoc.is_empty() {
                let mut a = serde_json::Map::new();
                for to in &assoc {
                    let ids = associated(&inner, gate.hub, &object, &r.id, to);
                    if !ids.is_empty() {
                        let label = association_label(&object, to);
                        a.insert(to.clone(), json!({"results": ids.iter().map(|i| json!({"id": i, "type": label})).collect::<Vec<_>>()}));
                    }
                }
                v["associations"] = Value::Object(a);
            }
            v
        })
        .collect();
    let mut body = json!({"results": results});
    if let Some(n) = next {
        body["paging"] = json!({"next": {"after": n, "link": format!("{}/crm/v3/objects/{object}?after={n}", state.base_url)}});
    }
    answer(&state, &gate, StatusCode::OK, body)
}

fn as_millis(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

fn is_time(property: &str) -> bool {
    matches!(
        property,
        "hs_lastmodifieddate"
            | "lastmodifieddate"
            | "createdate"
            | "hs_createdate"
            | "hs_timestamp"
    )
}

fn compare(property: &str, have: &str, want: &str) -> Option<std::cmp::Ordering> {
    if is_time(property) {
        return Some(as_millis(have)?.cmp(&as_millis(want)?));
    }
    if let (Ok(a), Ok(b)) = (have.parse::<f64>(), want.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(have.to_lowercase().cmp(&want.to_lowercase()))
}

fn token_match(have: &str, pattern: &str) -> bool {
    let (have, pattern) = (have.to_lowercase(), pattern.to_lowercase());
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') => have.contains(rest.trim_end_matches('*')),
        (Some(rest), _) => have.ends_with(rest),
        (None, Some(rest)) => have.starts_with(rest),
        (None, None) => have
            .split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.')
            .any(|t| t == pattern),
    }
}

fn filter_ok(r: &SimRecord, f: &Value) -> Result<bool, String> {
    let property = f
        .get("propertyName")
        .and_then(Value::as_str)
        .ok_or("filter without propertyName")?;
    let op = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
    let have = r.properties.get(property).map(String::as_str);
    let value = f.get("value").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let values: Vec<String> = f
        .get("values")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    use std::cmp::Ordering::*;
    let cmp = |want: &Option<String>| -> Result<Option<std::cmp::Ordering>, String> {
        let want = want
            .as_ref()
            .ok_or(format!("operator {op} needs a value"))?;
        Ok(have.and_then(|h| compare(property, h, want)))
    };
    Ok(match op {
        "EQ" => cmp(&value)? == Some(Equal),
        "NEQ" => cmp(&value)? != Some(Equal),
        "LT" => cmp(&value)? == Some(Less),
        "LTE" => matches!(cmp(&value)?, Some(Less | Equal)),
        "GT" => cmp(&value)? == Some(Greater),
        "GTE" => matches!(cmp(&value)?, Some(Greater | Equal)),
        "BETWEEN" => {
            let high = f
                .get("highValue")
                .and_then(Value::as_str)
                .map(str::to_owned);
            matches!(cmp(&value)?, Some(Greater | Equal))
                && matches!(cmp(&high)?, Some(Less | Equal))
        }
        "IN" => have.is_some_and(|h| values.iter().any(|v| v == h)),
        "NOT_IN" => !have.is_some_and(|h| values.iter().any(|v| v == h)),
        "HAS_PROPERTY" => have.is_some_and(|h| !h.is_empty()),
        "NOT_HAS_PROPERTY" => have.is_none_or(|h| h.is_empty()),
        "CONTAINS_TOKEN" => have.is_some_and(|h| token_match(h, value.as_deref().unwrap_or(""))),
        "NOT_CONTAINS_TOKEN" => {
            !have.is_some_and(|h| token_match(h, value.as_deref().unwrap_or("")))
        }
        other => return Err(format!("Unknown operator {other}")),
    })
}

async fn search(
    State(state): State<Shared>,
    Path(object): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_object(&object) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, true) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if body.len() > SEARCH_BODY_MAX {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "The request body is larger than 3000 characters.",
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid input JSON",
        );
    };
    let groups: Vec<Value> = req
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total_filters: usize = groups
        .iter()
        .map(|g| {
            g.get("filters")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    if groups.len() > 5
        || groups.iter().any(|g| {
            g.get("filters")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
                > 6
        })
        || total_filters > 18
    {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Too many filter groups or filters (at most 5 groups, 6 filters each, 18 in all).",
        );
    }
    let limit = req.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
    if !(1..=200).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "limit must be between 1 and 200",
        );
    }
    let after: usize = match req.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => match s.parse() {
            Ok(a) => a,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "after is not a valid paging cursor",
                );
            }
        },
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "after is not a valid paging cursor",
            );
        }
    };
    if after + limit > 10_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Search results are limited to 10,000; narrow the filters.",
        );
    }
    let props: Option<Vec<String>> = req.get("properties").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let empty = BTreeMap::new();
    let records = inner
        .portals
        .get(&gate.hub)
        .and_then(|p| p.objects.get(&object))
        .unwrap_or(&empty);
    let mut matched: Vec<&SimRecord> = Vec::new();
    for r in records.values().filter(|r| !r.archived) {
        let mut ok = groups.is_empty();
        for g in &groups {
            let filters = g
                .get("filters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut all = true;
            for f in &filters {
                match filter_ok(r, f) {
                    Ok(true) => {}
                    Ok(false) => all = false,
                    Err(m) => return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m),
                }
            }
            ok |= all;
        }
        if ok {
            matched.push(r);
        }
    }
    if let Some(sort) = req
        .get("sorts")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
    {
        let property = sort
            .get("propertyName")
            .and_then(Value::as_str)
            .unwrap_or("hs_object_id")
            .to_owned();
        let descending = sort.get("direction").and_then(Value::as_str) == Some("DESCENDING");
        matched.sort_by(|a, b| {
            let o = match (a.properties.get(&property), b.properties.get(&property)) {
                (Some(x), Some(y)) => compare(&property, x, y).unwrap_or(std::cmp::Ordering::Equal),
                (x, y) => x.is_some().cmp(&y.is_some()),
            };
            let o = o.then_with(|| {
                a.id.parse::<u64>()
                    .unwrap_or(0)
                    .cmp(&b.id.parse::<u64>().unwrap_or(0))
            });
            if descending { o.reverse() } else { o }
        });
    }
    let total = matched.len();
    let results: Vec<Value> = matched
        .iter()
        .skip(after)
        .take(limit)
        .map(|r| record_json(&object, r, props.as_deref()))
        .collect();
    let mut body = json!({"total": total, "results": results});
    if after + limit < total {
        body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    answer(&state, &gate, StatusCode::OK, body)
}

async fn batch_read(
    State(state): State<Shared>,
    Path(object): Path<String>,
    headers: HeaderMap,
    axum::Json(req): axum::Json<Value>,
) -> Response {
    if let Err(r) = check_object(&object) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let inputs: Vec<String> = req
        .get("inputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("id"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    if inputs.len() > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch requests are limited to 100 inputs.",
        );
    }
    let id_property = req
        .get("idProperty")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let props: Option<Vec<String>> = req.get("properties").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let empty = BTreeMap::new();
    let records = inner
        .portals
        .get(&gate.hub)
        .and_then(|p| p.objects.get(&object))
        .unwrap_or(&empty);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for id in &inputs {
        let found = match &id_property {
            Some(p) => records.values().find(|r| {
                !r.archived
                    && r.properties
                        .get(p)
                        .is_some_and(|v| v.eq_ignore_ascii_case(id))
            }),
            None => id
                .parse::<u64>()
                .ok()
                .and_then(|i| records.get(&i))
                .filter(|r| !r.archived),
        };
        match found {
            Some(r) => results.push(record_json(&object, r, props.as_deref())),
            None => missing.push(id.clone()),
        }
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut body =
        json!({"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now});
    if missing.is_empty() {
        return answer(&state, &gate, StatusCode::OK, body);
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!("Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.", object.to_uppercase()),
        "context": {"ids": missing},
    }]);
    answer(&state, &gate, StatusCode::MULTI_STATUS, body)
}

/// Checks properties written to a note or task; returns the values to store.
fn writable(
    object: &str,
    props: &serde_json::Map<String, Value>,
    creating: bool,
) -> Result<BTreeMap<String, String>, String> {
    let allowed: &[&str] = match object {
        "notes" => &[
            "hs_timestamp",
            "hs_note_body",
            "hubspot_owner_id",
            "hs_attachment_ids",
        ],
        "tasks" => &[
            "hs_timestamp",
            "hs_task_subject",
            "hs_task_body",
            "hs_task_status",
            "hs_task_priority",
            "hs_task_type",
            "hubspot_owner_id",
            "hs_task_reminders",
        ],
        _ => &[],
    };
    let mut out = BTreeMap::new();
    for (k, v) in props {
        if !allowed.is_empty() && !allowed.contains(&k.as_str()) {
            return Err(format!("Property \"{k}\" does not exist"));
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => return Err(format!("Property \"{k}\" has an invalid value")),
        };
        out.insert(k.clone(), text);
    }
    if matches!(object, "notes" | "tasks") {
        match out.get("hs_timestamp") {
            Some(t) if as_millis(t).is_none() => {
                return Err(format!(
                    "{t} is not a valid hs_timestamp: use epoch milliseconds or ISO 8601 UTC"
                ));
            }
            Some(_) => {}
            None if creating => {
                return Err("Property values were not valid: hs_timestamp is required".into());
            }
            None => {}
        }
    }
    if out
        .get("hs_note_body")
        .is_some_and(|b| b.chars().count() > 65_536)
    {
        return Err("hs_note_body is longer than 65536 characters".into());
    }
    if let Some(s) = out.get("hs_task_status")
        && ![
            "NOT_STARTED",
            "COMPLETED",
            "IN_PROGRESS",
            "WAITING",
            "DEFERRED",
        ]
        .contains(&s.as_str())
    {
        return Err(format!(
            "{s} was not one of the allowed options for hs_task_status"
        ));
    }
    if let Some(s) = out.get("hs_task_priority")
        && !["LOW", "MEDIUM", "HIGH", "NONE"].contains(&s.as_str())
    {
        return Err(format!(
            "{s} was not one of the allowed options for hs_task_priority"
        ));
    }
    if let Some(s) = out.get("hs_task_type")
        && !["EMAIL", "CALL", "TODO", "LINKED_IN", "MEETING"].contains(&s.as_str())
    {
        return Err(format!(
            "{s} was not one of the allowed options for hs_task_type"
        ));
    }
    Ok(out)
}

/// The object type a `HUBSPOT_DEFINED` association type id from `from` leads to.
fn association_target(from: &str, type_id: u32) -> Option<&'static str> {
    match (from, type_id) {
        ("notes", 202) | ("tasks", 204) | ("companies", 280) => Some("contacts"),
        ("notes", 190) | ("tasks", 192) | ("contacts", 1) | ("contacts", 279) => Some("companies"),
        ("contacts", 201) | ("companies", 189) => Some("notes"),
        ("contacts", 203) | ("companies", 191) => Some("tasks"),
        _ => None,
    }
}

fn exists(inner: &Inner, hub: u64, object: &str, id: &str) -> bool {
    inner
        .portals
        .get(&hub)
        .and_then(|p| p.objects.get(object))
        .and_then(|m| m.get(&id.parse::<u64>().ok()?))
        .is_some_and(|r| !r.archived)
}

async fn create(
    State(state): State<Shared>,
    Path(object): Path<String>,
    headers: HeaderMap,
    axum::Json(req): axum::Json<Value>,
) -> Response {
    if let Err(r) = check_object(&object) {
        return r;
    }
    let (response, hang) = {
        let mut inner = state.lock();
        let gate = match gate(&state, &mut inner, &headers, false) {
            Ok(g) => g,
            Err(r) => return r,
        };
        let props = req
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let props = match writable(&object, &props, true) {
            Ok(p) => p,
            Err(m) => return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m),
        };
        if matches!(object.as_str(), "notes" | "tasks") && req.get("associations").is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "associations is required (send [] for none)",
            );
        }
        let mut associations = Vec::new();
        for a in req
            .get("associations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let to_id = a
                .pointer("/to/id")
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            for t in a
                .get("types")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let category = t
                    .get("associationCategory")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let type_id = t
                    .get("associationTypeId")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32;
                let Some(to_type) =
                    association_target(&object, type_id).filter(|_| category == "HUBSPOT_DEFINED")
                else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        &format!(
                            "{category} {type_id} is not a valid association type from {object}"
                        ),
                    );
                };
                if !exists(&inner, gate.hub, to_type, &to_id) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        &format!("No {to_type} with id {to_id} to associate"),
                    );
                }
                associations.push(Association {
                    to_type: to_type.to_owned(),
                    to_id: to_id.clone(),
                    type_id,
                });
            }
        }
        let Some(portal) = inner.portals.get_mut(&gate.hub) else {
            return error(
                StatusCode::UNAUTHORIZED,
                "INVALID_AUTHENTICATION",
                "unknown portal",
            );
        };
        let id = hubspot_insert(portal, &object, props, associations);
        let record = portal
            .objects
            .get(&object)
            .and_then(|m| m.get(&id.parse::<u64>().unwrap_or(0)))
            .cloned();
        let body = record
            .map(|r| {
                let keys: Vec<String> = r.properties.keys().cloned().collect();
                record_json(&object, &r, Some(&keys))
            })
            .unwrap_or(Value::Null);
        (answer(&state, &gate, StatusCode::CREATED, body), gate.hang)
    };
    if hang {
        tokio::time::sleep(state.config.hang_after_create).await;
    }
    response
}

async fn read_one(
    State(state): State<Shared>,
    Path((object, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    if let Err(r) = check_object(&object) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let props = csv_param(&q, "properties");
    let portal = inner.portals.get(&gate.hub);
    let found =
        portal
            .and_then(|p| p.objects.get(&object))
            .and_then(|m| match q.get("idProperty") {
                Some(p) => m.values().find(|r| {
                    r.properties
                        .get(p)
                        .is_some_and(|v| v.eq_ignore_ascii_case(&id))
                }),
                None => m.get(&id.parse::<u64>().ok()?),
            });
    match found.filter(|r| !r.archived) {
        Some(r) => answer(
            &state,
            &gate,
            StatusCode::OK,
            record_json(&object, r, props.as_deref()),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
        ),
    }
}

async fn update(
    State(state): State<Shared>,
    Path((object, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(req): axum::Json<Value>,
) -> Response {
    if let Err(r) = check_object(&object) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let props = req
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let props = match writable(&object, &props, false) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &m),
    };
    let record = inner
        .portals
        .get_mut(&gate.hub)
        .and_then(|p| p.objects.get_mut(&object))
        .and_then(|m| m.get_mut(&id.parse::<u64>().ok()?))
        .filter(|r| !r.archived);
    let Some(record) = record else {
        return error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
        );
    };
    record.properties.extend(props);
    hubspot_touch(record);
    let keys: Vec<String> = record.properties.keys().cloned().collect();
    let body = record_json(&object, record, Some(&keys));
    answer(&state, &gate, StatusCode::OK, body)
}

async fn archive(
    State(state): State<Shared>,
    Path((object, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_object(&object) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if let Some(r) = inner
        .portals
        .get_mut(&gate.hub)
        .and_then(|p| p.objects.get_mut(&object))
        .and_then(|m| m.get_mut(&id.parse::<u64>().ok()?))
    {
        r.archived = true;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(rem) = gate.remaining {
        add_limit_headers(&mut resp, state.config.hubspot_calls_per_10s, rem);
    }
    resp
}

/// `GET /crm/v3/owners`: the portal's one owner, the person who installed the app (filtered by
/// `email` when given).
async fn owners(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_map(raw);
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Some(portal) = inner.portals.get(&gate.hub) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "unknown portal",
        );
    };
    let owner = json!({
        "id": (gate.hub * 10 + 1).to_string(),
        "email": portal.user,
        "firstName": portal.user.split('@').next().unwrap_or(""),
        "lastName": "",
        "userId": 7_001,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "archived": false,
    });
    let wanted = q.get("email").map(|e| e.to_lowercase());
    let results: Vec<Value> = match wanted {
        Some(e) if e != portal.user.to_lowercase() => Vec::new(),
        _ => vec![owner],
    };
    answer(&state, &gate, StatusCode::OK, json!({"results": results}))
}

async fn list_associations(
    State(state): State<Shared>,
    Path((object, id, to)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_object(&object).and_then(|_| check_object(&to)) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if !exists(&inner, gate.hub, &object, &id) {
        return error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found.",
        );
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(500)
        .clamp(1, 500);
    let after: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let ids = associated(&inner, gate.hub, &object, &id, &to);
    let label = association_label(&object, &to);
    let results: Vec<Value> = ids
        .iter()
        .skip(after)
        .take(limit)
        .map(|i| json!({"id": i, "type": label}))
        .collect();
    let mut body = json!({"results": results});
    if after + limit < ids.len() {
        body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    answer(&state, &gate, StatusCode::OK, body)
}

async fn associate(
    State(state): State<Shared>,
    Path((object, id, to, to_id, type_id)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_object(&object).and_then(|_| check_object(&to)) {
        return r;
    }
    let mut inner = state.lock();
    let gate = match gate(&state, &mut inner, &headers, false) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let type_id: u32 = type_id.parse().unwrap_or(0);
    if association_target(&object, type_id) != Some(to.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("{type_id} is not a valid association type from {object} to {to}"),
        );
    }
    if !exists(&inner, gate.hub, &to, &to_id) {
        return error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("No {to} with id {to_id}"),
        );
    }
    let record = inner
        .portals
        .get_mut(&gate.hub)
        .and_then(|p| p.objects.get_mut(&object))
        .and_then(|m| m.get_mut(&id.parse::<u64>().ok()?))
        .filter(|r| !r.archived);
    let Some(record) = record else {
        return error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found.",
        );
    };
    let a = Association {
        to_type: to.clone(),
        to_id: to_id.clone(),
        type_id,
    };
    if !record.associations.contains(&a) {
        record.associations.push(a);
    }
    let label = association_label(&object, &to);
    let body = json!({
        "id": record.id,
        "properties": {},
        "createdAt": record.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updatedAt": record.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "archived": false,
        "associations": {to.clone(): {"results": [{"id": to_id, "type": label}]}},
    });
    answer(&state, &gate, StatusCode::OK, body)
}
