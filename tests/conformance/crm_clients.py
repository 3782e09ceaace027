"""Drives HubSpot's official Python client (hubspot-api-client) and simple-salesforce against
Debrief's CRM simulator, over every endpoint Debrief uses. Where a client rejects a simulator
answer, the simulator is wrong.

Usage: crm_clients.py PATH_TO_DEBRIEF_BINARY
"""

import base64
import hashlib
import json
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import requests
from hubspot import HubSpot
from hubspot.crm.companies import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.objects.notes import (
    AssociationSpec,
    BatchReadInputSimplePublicObjectId,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.notes.exceptions import ApiException as NotesApiException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest

CLIENT_SECRET = "debrief-demo-client-secret"
HUBSPOT_CLIENT = "debrief-demo-hubspot"
SALESFORCE_CLIENT = "debrief-demo-salesforce"
REDIRECT = "http://127.0.0.1:9/callback"
failures = []


def check(name, condition, detail=""):
    print(("PASS " if condition else "FAIL ") + name + (f": {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def consent(authorize_url):
    """Opens the consent page and approves; returns the code from the redirect."""
    html = urllib.request.urlopen(authorize_url).read().decode()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    fields = {k: v.replace("&amp;", "&").replace("&quot;", '"') for k, v in fields.items()}
    account = re.search(r'<option value="([^"]+)"', html).group(1)
    fields.update({"account": account, "decision": "approve"})
    request = urllib.request.Request(authorize_url, data=urllib.parse.urlencode(fields).encode())
    try:
        opener.open(request)
    except urllib.error.HTTPError as e:
        location = e.headers["location"]
        return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
    raise AssertionError("the consent page did not redirect")


def fault(base, kind, count, provider):
    body = json.dumps({"kind": kind, "count": count, "provider": provider}).encode()
    request = urllib.request.Request(f"{base}/__sim/faults", data=body, headers={"content-type": "application/json"})
    urllib.request.urlopen(request)


def hubspot(base):
    query = urllib.parse.urlencode({
        "client_id": HUBSPOT_CLIENT, "redirect_uri": REDIRECT,
        "scope": "oauth crm.objects.contacts.read crm.objects.companies.read crm.objects.contacts.write",
        "state": "s1",
    })
    code = consent(f"{base}/oauth/authorize?{query}")
    client = HubSpot(host=base)
    tokens = client.oauth.tokens_api.create(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
        client_id=HUBSPOT_CLIENT, client_secret=CLIENT_SECRET)
    check("hubspot: code exchange", bool(tokens.access_token) and tokens.expires_in == 1800, tokens)
    refreshed = client.oauth.tokens_api.create(
        grant_type="refresh_token", refresh_token=tokens.refresh_token,
        client_id=HUBSPOT_CLIENT, client_secret=CLIENT_SECRET)
    check("hubspot: refresh", bool(refreshed.access_token) and refreshed.access_token != tokens.access_token)
    info = client.oauth.access_tokens_api.get(refreshed.access_token)
    check("hubspot: token information names the portal", info.hub_id == 4100200, info)

    api = HubSpot(access_token=refreshed.access_token, host=base)
    page = api.crm.companies.basic_api.get_page(limit=5, properties=["name", "domain", "hs_additional_domains", "hs_lastmodifieddate"])
    check("hubspot: companies page", len(page.results) == 5 and page.paging.next.after, page.paging)
    rest = api.crm.companies.basic_api.get_page(limit=100, after=page.paging.next.after, properties=["name", "domain"])
    check("hubspot: next page by after", len(rest.results) >= 1 and rest.results[0].id != page.results[0].id)
    contacts = api.crm.contacts.basic_api.get_page(limit=100, properties=["email", "firstname", "lastname", "jobtitle", "associatedcompanyid", "lastmodifieddate"])
    check("hubspot: contacts with their company", all(c.properties.get("associatedcompanyid") for c in contacts.results), contacts.results[:1])
    search = api.crm.companies.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="hs_lastmodifieddate", operator="GT", value="0")])],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["name", "domain"], limit=100))
    check("hubspot: search by last modification", search.total == len(page.results) + len(rest.results), search.total)

    company = page.results[0].id
    contact = contacts.results[0].id
    note = api.crm.objects.notes.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"hs_timestamp": "2025-03-04T15:58:40.000Z", "hs_note_body": "<p>QBR</p><small>Debrief ref k1</small>"},
        associations=[
            PublicAssociationsForObject(to=PublicObjectId(id=contact), types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=202)]),
            PublicAssociationsForObject(to=PublicObjectId(id=company), types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=190)]),
        ]))
    check("hubspot: note created", bool(note.id))
    updated = api.crm.objects.notes.basic_api.update(note.id, SimplePublicObjectInput(properties={"hs_note_body": "<p>QBR, updated</p><small>Debrief ref k1</small>"}))
    check("hubspot: note updated", updated.properties["hs_note_body"].startswith("<p>QBR, updated"))
    associated = api.api_request({"base_url": base, "method": "GET", "path": f"/crm/v3/objects/companies/{company}/associations/notes"}).json()
    check("hubspot: the company's notes", any(r["id"] == note.id for r in associated["results"]), associated)
    read = api.crm.objects.notes.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=note.id)], properties=["hs_note_body"], properties_with_history=[]))
    check("hubspot: batch read", read.results[0].properties["hs_note_body"].endswith("Debrief ref k1</small>"))
    put = api.api_request({"base_url": base, "method": "PUT", "path": f"/crm/v3/objects/notes/{note.id}/associations/companies/{company}/190"})
    check("hubspot: associate later", put.status_code == 200, put.text)
    task = api.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"hs_timestamp": "2025-03-11T15:58:40.000Z", "hs_task_subject": "Send the quote", "hs_task_status": "NOT_STARTED", "hs_task_priority": "MEDIUM", "hs_task_type": "TODO"},
        associations=[PublicAssociationsForObject(to=PublicObjectId(id=contact), types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=204)])]))
    check("hubspot: task created", bool(task.id))
    owners = api.crm.owners.owners_api.get_page(email="alice.johnson@acme.com", limit=1)
    check("hubspot: owner by email", len(owners.results) == 1 and owners.results[0].email == "alice.johnson@acme.com", owners)
    nobody = api.crm.owners.owners_api.get_page(email="nobody@acme.com", limit=1)
    check("hubspot: no owner with that email", nobody.results == [], nobody)
    try:
        api.crm.objects.notes.basic_api.create(SimplePublicObjectInputForCreate(properties={"hs_note_body": "no time"}, associations=[]))
        check("hubspot: a note without hs_timestamp is refused", False)
    except NotesApiException as e:
        body = json.loads(e.body)
        check("hubspot: a note without hs_timestamp is refused", e.status == 400 and body["category"] == "VALIDATION_ERROR", e.body)
    fault(base, "rate_limited", 1, "hubspot")
    try:
        api.crm.objects.notes.basic_api.update(note.id, SimplePublicObjectInput(properties={"hs_note_body": "x Debrief ref k1"}))
        check("hubspot: 429 with its body and headers", False)
    except NotesApiException as e:
        body = json.loads(e.body)
        check("hubspot: 429 with its body and headers", e.status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING"
              and e.headers.get("X-HubSpot-RateLimit-Max") == "110", e.body)
    client.oauth.refresh_tokens_api.archive(tokens.refresh_token)
    try:
        client.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token,
                                       client_id=HUBSPOT_CLIENT, client_secret=CLIENT_SECRET)
        check("hubspot: a deleted refresh token is refused", False)
    except Exception as e:  # the OAuth API's own ApiException
        check("hubspot: a deleted refresh token is refused", getattr(e, "status", None) == 400 and "invalid_grant" in e.body, e)


class PlainHttp(requests.adapters.HTTPAdapter):
    """simple-salesforce always builds https URLs; the simulator listens on plain loopback HTTP."""

    def send(self, request, **kwargs):
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, **kwargs)


def salesforce(base):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": SALESFORCE_CLIENT, "redirect_uri": REDIRECT,
        "scope": "api refresh_token id", "state": "s2", "code_challenge": challenge, "code_challenge_method": "S256",
    })
    code = consent(f"{base}/services/oauth2/authorize?{query}")
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "client_id": SALESFORCE_CLIENT,
                                   "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT, "code_verifier": verifier}).encode()
    tokens = json.loads(urllib.request.urlopen(f"{base}/services/oauth2/token", data=form).read())
    check("salesforce: code exchange with PKCE", tokens["token_type"] == "Bearer" and isinstance(tokens["issued_at"], str), tokens)
    session = requests.Session()
    session.mount("https://", PlainHttp())
    sf = Salesforce(instance_url=tokens["instance_url"], session_id=tokens["access_token"], version="65.0", session=session)
    for i in range(2001):
        request = urllib.request.Request(f"{base}/__sim/salesforce/00D5g000004DemoEAA/accounts",
                                         data=json.dumps({"name": f"Bulk {i}", "domain": f"bulk{i}.example"}).encode(),
                                         headers={"content-type": "application/json"})
        urllib.request.urlopen(request)
    first = sf.query("SELECT Id, Name, Website, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    check("salesforce: query pages at 2,000", len(first["records"]) == 2000 and not first["done"] and first["nextRecordsUrl"], first["totalSize"])
    everything = sf.query_all("SELECT Id, Name, Website, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    check("salesforce: query_all follows nextRecordsUrl", len(everything["records"]) == everything["totalSize"] >= 2005, everything["totalSize"])
    since = sf.query("SELECT Id, Email, Name, Title, AccountId, SystemModstamp FROM Contact WHERE SystemModstamp > 2020-01-01T00:00:00Z ORDER BY SystemModstamp, Id")
    check("salesforce: contacts modified since", since["totalSize"] >= 1 and since["records"][0]["attributes"]["type"] == "Contact", since)
    contact = since["records"][0]
    task = {"Subject": "Call: QBR", "Description": "Debrief ref k2", "ActivityDate": "2025-03-04", "Status": "Completed",
            "Priority": "Normal", "WhoId": contact["Id"], "WhatId": contact["AccountId"]}
    created = sf.Task.upsert("Debrief_Push_Key__c/k2", task)
    again = sf.Task.upsert("Debrief_Push_Key__c/k2", dict(task, Description="Debrief ref k2, updated"))
    check("salesforce: upsert creates, then updates", created == 201 and again in (200, 204), (created, again))
    found = sf.Task.get_by_custom_id("Debrief_Push_Key__c", "k2")
    check("salesforce: read by external id", found["Description"] == "Debrief ref k2, updated" and found["IsClosed"] is True, found)
    count = sf.query("SELECT Id FROM Task WHERE Debrief_Push_Key__c = 'k2'")["totalSize"]
    check("salesforce: one Task for the key", count == 1, count)
    check("salesforce: Sforce-Limit-Info read", "api-usage" in sf.api_usage, sf.api_usage)
    try:
        sf.query("SELEC Id FROM Account")
        check("salesforce: bad SOQL is MALFORMED_QUERY", False)
    except SalesforceMalformedRequest as e:
        check("salesforce: bad SOQL is MALFORMED_QUERY", e.content[0]["errorCode"] == "MALFORMED_QUERY", e.content)
    urllib.request.urlopen(urllib.request.Request(f"{base}/__sim/tokens/expire", data=b""))
    try:
        sf.query("SELECT Id FROM Account LIMIT 1")
        check("salesforce: expired session is INVALID_SESSION_ID", False)
    except SalesforceExpiredSession as e:
        check("salesforce: expired session is INVALID_SESSION_ID", e.content[0]["errorCode"] == "INVALID_SESSION_ID", e.content)
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                   "client_id": SALESFORCE_CLIENT, "client_secret": CLIENT_SECRET}).encode()
    refreshed = json.loads(urllib.request.urlopen(f"{base}/services/oauth2/token", data=form).read())
    check("salesforce: refresh keeps the refresh token", "refresh_token" not in refreshed and refreshed["instance_url"], refreshed)
    sf2 = Salesforce(instance_url=refreshed["instance_url"], session_id=refreshed["access_token"], version="65.0", session=session)
    check("salesforce: the new token works", sf2.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1)


def main():
    binary = sys.argv[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen([binary, "sim", "crm", "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        end = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/__sim/stats")
                break
            except Exception:
                if time.time() > end:
                    raise
                time.sleep(0.2)
        hubspot(base)
        salesforce(base)
    finally:
        sim.terminate()
        sim.wait()
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("CRM clients conformance: every check passed")


if __name__ == "__main__":
    main()
