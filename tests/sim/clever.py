"""Clever Cloud API (/v2 and /v4): credentials, error forms, routes and handlers.

Accepts `Authorization: Bearer sim-clever-api-token` or OAuth 1.0a PLAINTEXT with
the constants below. Errors: /v2 paths answer `{"id", "message", "type": "error"}`,
/v4 paths `{"api_request_id", "code": "clever.core.<kind>", "context", "error"}`.
Every response carries a fresh `Sozu-Id` (the v4 api_request_id repeats it).
Owner-scoped v4 paths take an organisation id or the user id (personal space);
/v2/organisations/{id}/... takes organisation ids only (/v2/self/... is the user's).
"""

import json
import re
import uuid

import invoices
from clock import parse_iso
from server import ApiError, Response, Route, Router, json_response

CREDENTIALS = {
    "api_token": "sim-clever-api-token",
    "consumer_key": "sim-consumer-key",
    "consumer_secret": "sim-consumer-secret",
    "token": "sim-oauth-token",
    "secret": "sim-oauth-secret",
}
OAUTH_EXPECTED = {
    "oauth_consumer_key": CREDENTIALS["consumer_key"],
    "oauth_token": CREDENTIALS["token"],
    "oauth_signature": f"{CREDENTIALS['consumer_secret']}%26{CREDENTIALS['secret']}",
}
OAUTH_OPTIONAL = {"oauth_signature_method": "PLAINTEXT", "oauth_version": "1.0"}
OAUTH_PARAM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
V2_IDS = {401: 2001}
ID = r"(?P<{}>[^/]+)"
OWNER, APP = ID.format("owner"), ID.format("app")
USER_SUMMARY = ("id", "name", "email", "avatar", "creationDate", "lang", "emailValidated", "admin", "canPay",
                "preferredMFA")
ORG_SUMMARY = ("id", "name", "avatar", "canPay", "cleverEnterprise", "vatState", "isTrusted")
POLICY_KEYS = ("retentionSizeInMB", "retentionTimeInMinutes", "offloadThresholdInBytes",
               "offloadDeletionLagInMillis")


def oauth_params(header):
    """The key="value" pairs of an `OAuth ...` header, or None."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    return dict(OAUTH_PARAM.findall(rest))


def authorized(header):
    if header == f"Bearer {CREDENTIALS['api_token']}":
        return True
    params = oauth_params(header)
    return (params is not None
            and all(params.get(key) == value for key, value in OAUTH_EXPECTED.items())
            and all(params.get(key, value) == value for key, value in OAUTH_OPTIONAL.items()))


def not_found(kind, ident):
    return ApiError(404, "NOT_FOUND", f"{kind} {ident} not found", context={"id": ident})


def found(value, kind, ident):
    if value is None:
        raise not_found(kind, ident)
    return value


def date_filter(req, name):
    value = req.param(name)
    try:
        return None if value is None else parse_iso(value)
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", f"{name} is not an ISO 8601 date", context={name: value}) from None


def int_param(req, name):
    value = req.param(name)
    if value is not None and not value.isdigit():
        raise ApiError(400, "BAD_REQUEST", f"{name} must be a non-negative integer", context={name: value})
    return None if value is None else int(value)


def in_window(items, req, key):
    """Items whose `key` date is in [since, until)."""
    since, until = date_filter(req, "since"), date_filter(req, "until")
    return [item for item in items
            if (since is None or parse_iso(item[key]) >= since)
            and (until is None or parse_iso(item[key]) < until)]


def limited(items, req):
    limit = int_param(req, "limit")
    return items if limit is None else items[:limit]


class Clever:
    def __init__(self, store, hub):
        self.store = store
        self.hub = hub
        orch = f"/v4/orchestration/organisations/{OWNER}/applications/{APP}"
        pulsar = "/v4/addon-providers/addon-pulsar/addons/(?P<real>[^/]+)/storage-policies"
        self.router = Router([
            Route("GET", "/v2/self", self.get_self),
            Route("GET", "/v2/summary", self.get_summary),
            Route("GET", "/v2/organisations", self.list_orgs),
            Route("GET", f"/v2/organisations/{ID.format('org')}", self.get_org),
            Route("GET", "/v2/self/applications", self.list_apps),
            Route("GET", f"/v2/self/applications/{APP}", self.get_app),
            Route("GET", f"/v2/organisations/{ID.format('org')}/applications", self.list_apps),
            Route("GET", f"/v2/organisations/{ID.format('org')}/applications/{APP}", self.get_app),
            Route("GET", "/v2/self/addons", self.list_addons),
            Route("GET", f"/v2/self/addons/{ID.format('addon')}", self.get_addon),
            Route("GET", f"/v2/organisations/{ID.format('org')}/addons", self.list_addons),
            Route("GET", f"/v2/organisations/{ID.format('org')}/addons/{ID.format('addon')}", self.get_addon),
            Route("GET", "/v4/products/zones", self.list_zones),
            Route("GET", f"/v4/products/zones/{ID.format('name')}", self.get_zone),
            Route("GET", f"/v4/billing/organisations/{OWNER}/invoices", self.list_invoices),
            Route("GET", f"/v4/billing/organisations/{OWNER}/invoices/(?P<number>[^/.]+)"
                         r"(?:\.(?P<ext>html|pdf))?", self.get_invoice),
            Route("GET", f"{orch}/deployments", self.list_deployments),
            Route("GET", f"{orch}/deployments/{ID.format('item')}", self.get_deployment),
            Route("GET", f"{orch}/instances", self.list_instances),
            Route("GET", f"{orch}/instances/{ID.format('item')}", self.get_instance),
            Route("GET", f"/v4/load-balancers/organisations/{OWNER}/applications/{APP}/load-balancers/default",
                  self.get_load_balancer),
            Route("GET", pulsar, self.get_policy),
            Route("PATCH", pulsar, self.patch_policy),
            Route("GET", f"/v4/logs/organisations/{OWNER}/applications/{APP}/logs", self.logs, stream=True),
        ])

    # -- provider interface ----------------------------------------------------------

    @staticmethod
    def owns(path):
        return path.startswith(("/v2/", "/v4/")) or path in ("/v2", "/v4")

    @staticmethod
    def authenticate(req):
        if not authorized(req.headers.get("authorization", "")):
            raise ApiError(401, "UNAUTHORIZED", "Not connected")

    @staticmethod
    def error(req, route, err, form=None):
        request_id = str(uuid.uuid4())
        if req.path.startswith("/v2"):
            body = {"id": V2_IDS.get(err.status, err.status // 100 * 1000 + err.status % 100),
                    "message": err.message, "type": "error"}
        else:
            body = {"api_request_id": request_id, "code": "clever.core." + err.code.lower().replace("_", "-"),
                    "context": err.extra.get("context", {}), "error": err.message}
        resp = json_response(body, err.status)
        resp.headers.update(err.headers)
        resp.headers["Sozu-Id"] = request_id
        return resp

    @staticmethod
    def finish(resp):
        """Give the response its Sozu-Id; return it (the request id)."""
        return resp.headers.setdefault("Sozu-Id", str(uuid.uuid4()))

    def state(self):
        return {**self.store.clever, "summary": self.summary()}

    # -- v2 ----------------------------------------------------------------------------

    def owner(self, org):
        """The owner id for /v2/self/... (org None) or /v2/organisations/{org}/..."""
        if org is None:
            return self.store.clever["self"]["id"]
        return found(self.store.org(org), "organisation", org)["id"]

    def get_self(self, req):
        return json_response(self.store.clever["self"])

    def get_summary(self, req):
        return json_response(self.summary())

    def summary(self):
        clever = self.store.clever
        user = clever["self"]

        def space(owner):
            return {"applications": [app_brief(app) for app in clever["applications"][owner]],
                    "addons": [addon_brief(addon) for addon in clever["addons"][owner]]}

        orgs = [pick(org, ORG_SUMMARY) | space(org["id"]) for org in clever["organisations"]]
        return {"user": pick(user, USER_SUMMARY) | space(user["id"]), "organisations": orgs}

    def list_orgs(self, req):
        return json_response(self.store.clever["organisations"])

    def get_org(self, req, org):
        return json_response(found(self.store.org(org), "organisation", org))

    def list_apps(self, req, org=None):
        return json_response(self.store.apps(self.owner(org)))

    def get_app(self, req, app, org=None):
        return json_response(found(self.store.app(self.owner(org), app), "application", app))

    def list_addons(self, req, org=None):
        return json_response(self.store.clever["addons"][self.owner(org)])

    def get_addon(self, req, addon, org=None):
        return json_response(found(self.store.addon(self.owner(org), addon), "addon", addon))

    # -- v4 ----------------------------------------------------------------------------

    def list_zones(self, req):
        return json_response(self.store.clever["zones"])

    def get_zone(self, req, name):
        zone = next((z for z in self.store.clever["zones"] if z["name"] == name), None)
        return json_response(found(zone, "zone", name))

    def check_owner(self, owner):
        if not self.store.is_owner(owner):
            raise not_found("owner", owner)

    def list_invoices(self, req, owner):
        self.check_owner(owner)
        items = in_window(self.store.clever["invoices"][owner], req, "emission_date")
        return json_response(limited(items, req))

    def get_invoice(self, req, owner, number, ext=None):
        self.check_owner(owner)
        invoice = found(self.store.invoice(owner, number), "invoice", number)
        if ext is None:
            return json_response(invoice)
        body = invoices.render(ext, json.dumps(invoice, sort_keys=True), number == self.store.large_invoice)
        return Response(200, body, "application/pdf" if ext == "pdf" else "text/html; charset=utf-8")

    def app_table(self, table, owner, app):
        self.check_owner(owner)
        found(self.store.app(owner, app), "application", app)
        return self.store.clever[table][app]

    def list_deployments(self, req, owner, app):
        return json_response(limited(self.app_table("deployments", owner, app), req))

    def get_deployment(self, req, owner, app, item):
        return json_response(find_by_id(self.app_table("deployments", owner, app), "deployment", item))

    def list_instances(self, req, owner, app):
        items = in_window(self.app_table("instances", owner, app), req, "creationDate")
        params = req.params
        states_in, states_out = set(params.get("includeState", [])), set(params.get("excludeState", []))
        if req.param("excludeDeleted", "false").lower() == "true":
            states_out.add("DELETED")
        items = [i for i in items
                 if req.param("deploymentId") in (None, i["deploymentId"])
                 and (not states_in or i["state"] in states_in) and i["state"] not in states_out]
        order = req.param("order", "DESC").upper()
        if order not in ("ASC", "DESC"):
            raise ApiError(400, "BAD_REQUEST", "order must be ASC or DESC", context={"order": order})
        items.sort(key=lambda i: (i["creationDate"], i["id"]), reverse=order == "DESC")
        return json_response(limited(items, req))

    def get_instance(self, req, owner, app, item):
        return json_response(find_by_id(self.app_table("instances", owner, app), "instance", item))

    def get_load_balancer(self, req, owner, app):
        return json_response(self.app_table("load_balancers", owner, app))

    def policy(self, real):
        return found(self.store.clever["storage_policies"].get(real), "pulsar", real)

    def get_policy(self, req, real):
        return json_response(self.policy(real))

    def patch_policy(self, req, real):
        policy = self.policy(real)
        try:
            patch = req.json()
        except ValueError:
            raise ApiError(400, "BAD_REQUEST", "body is not JSON") from None
        if not isinstance(patch, dict):
            raise ApiError(400, "BAD_REQUEST", "body must be a JSON object")
        for key, value in patch.items():
            if key not in POLICY_KEYS:
                raise ApiError(400, "BAD_REQUEST", f"unknown field {key}", context={"field": key})
            if type(value) is not int or value < -1:
                raise ApiError(400, "BAD_REQUEST", f"{key} must be an integer >= -1", context={"field": key})
        policy.update(patch)
        return json_response(policy)

    def logs(self, req, owner, app):
        self.check_owner(owner)
        return self.hub.open(req, owner, app)


def pick(obj, keys):
    return {key: obj[key] for key in keys}


def find_by_id(items, kind, ident):
    return found(next((item for item in items if item["id"] == ident), None), kind, ident)


def app_brief(app):
    return {"id": app["id"], "name": app["name"], "variantSlug": app["instance"]["variant"]["slug"],
            "variantLogoUrl": app["instance"]["variant"]["logo"], "state": app["state"],
            "commitId": app["commitId"], "instanceType": app["instance"]["type"], "archived": app["archived"]}


def addon_brief(addon):
    return {"id": addon["id"], "name": addon["name"], "realId": addon["realId"],
            "providerId": addon["provider"]["id"], "logoUrl": addon["provider"]["logoUrl"],
            "planSlug": addon["plan"]["slug"]}
