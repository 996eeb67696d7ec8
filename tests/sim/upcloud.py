"""UpCloud API (/1.3): credentials, the two error forms, the account endpoints.

Accepts `Authorization: Bearer ucat_sim_token_0001` or Basic acme_main/sim-password
(the main account). Account endpoints fail in the legacy form
`{"error": {"error_code", "error_message"}}` (application/json); billing and network
endpoints (metering.py) in RFC 7807 problem+json with `correlation_id`. No
request-id header. Writes validate like the real API (see check_fields); a field
that "cannot be changed" may still be sent with its current value, so a details
object read from the API can be written back as is.
"""

import base64
import re
import uuid

import seed
from server import ApiError, Response, Route, Router, json_response

CREDENTIALS = {"token": "ucat_sim_token_0001", "username": "acme_main", "password": "sim-password"}
PROBLEM_TYPE = "https://developers.upcloud.com/1.3/errors#ERROR_"
USER = r"(?P<username>[^/]+)"
ROLES = {"billing", "aux_billing", "technical"}
LABEL_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")
USERNAME = re.compile(r"[a-z0-9_]{4,64}")
TIMEZONE = re.compile(r"UTC|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REQUIRED = ("username", "password", "email", "phone", "currency", "language", "timezone")
ACCESS_LISTS = {"network_access": "network", "server_access": "server", "storage_access": "storage",
                "tag_access": "tag", "ip_filters": "ip_filter"}


def invalid(message, code="INVALID_REQUEST", status=400):
    return ApiError(status, code, message)


def user_not_found(username):
    return invalid(f"User {username} not found.", "USER_NOT_FOUND", 404)


def body_object(req, wrapper):
    """The object under `wrapper` in a JSON body, or INVALID_REQUEST."""
    try:
        body = req.json()
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
        raise invalid(f'The request body must be {{"{wrapper}": {{...}}}}.')
    return dict(body[wrapper])


# -- field validation ------------------------------------------------------------------

def check_text(key, value, current):
    if not isinstance(value, str):
        raise invalid(f"{key} must be a string.")


def check_choice(choices, code="INVALID_REQUEST"):
    def check(key, value, current):
        if value not in choices:
            raise invalid(f"{key} must be one of {', '.join(choices)}.", code)
    return check


def check_email(key, value, current):
    if not isinstance(value, str) or "@" not in value:
        raise invalid("The e-mail address is invalid.", "USER_INVALID")


def check_timezone(key, value, current):
    if not isinstance(value, str) or not TIMEZONE.fullmatch(value):
        raise invalid(f"Timezone {value!r} is invalid.", "TIMEZONE_INVALID")


def check_roles(key, value, current):
    roles = value.get("role") if isinstance(value, dict) else None
    if not isinstance(roles, list) or not all(role in ROLES for role in roles):
        raise invalid('roles must be {"role": [...]} with billing, aux_billing or technical.')


def check_labels(key, value, current):
    if not isinstance(value, list) or not all(
            isinstance(label, dict) and set(label) == {"key", "value"}
            and all(isinstance(part, str) for part in label.values()) for label in value):
        raise invalid('labels must be a list of {"key": ..., "value": ...} objects.')
    for label in value:
        if not LABEL_KEY.fullmatch(label["key"]) or label["key"].startswith("_"):
            raise invalid(f"Label key {label['key']!r} is invalid.", "INVALID_LABEL_KEY")
        if len(label["value"]) > 255 or CONTROL.search(label["value"]):
            raise invalid(f"Label value of {label['key']!r} is invalid.", "INVALID_LABEL_VALUE")
    keys = [label["key"].lower() for label in value]
    if len(set(keys)) != len(keys):
        raise invalid("Label keys must be unique.", "DUPLICATE_LABEL_KEYS")


def check_access(key, value, current):
    inner = ACCESS_LISTS[key]
    if not isinstance(value, dict) or not isinstance(value.get(inner), list):
        raise invalid(f'{key} must be {{"{inner}": [...]}}.')


def check_fixed(key, value, current):
    if current is None or current.get(key) != value:
        raise invalid(f"{key} cannot be changed.")


CHECKS = {
    **dict.fromkeys(("first_name", "last_name", "company", "address", "postal_code", "city", "state",
                     "country", "phone", "vat_number", "password"), check_text),
    **dict.fromkeys(("allow_api", "allow_gui", "enable_3rd_party_services"), check_choice(("yes", "no"))),
    **dict.fromkeys(ACCESS_LISTS, check_access),
    **dict.fromkeys(("username", "type", "main_account", "campaigns"), check_fixed),
    "currency": check_choice(("EUR", "GBP", "USD", "SGD")),
    "language": check_choice(("fi", "en")),
    "email": check_email,
    "timezone": check_timezone,
    "roles": check_roles,
    "labels": check_labels,
}


def check_fields(fields, current):
    """Raise the API's 400 for the first invalid field (current: None when creating)."""
    for key, value in fields.items():
        if key not in CHECKS:
            raise invalid(f"Unknown attribute {key}.")
        CHECKS[key](key, value, current)


def label_matches(account, wanted):
    """`key=value` or bare `key` (has the key); keys compare case-insensitively."""
    key, has_value, value = wanted.partition("=")
    return any(label["key"].lower() == key.lower() and (not has_value or label["value"] == value)
               for label in account["labels"])


class UpCloud:
    def __init__(self, store, metering):
        self.store = store
        self.router = Router([
            Route("GET", "/1.3/account", self.get_account, form="legacy"),
            Route("GET", "/1.3/account/list", self.list_accounts, form="legacy"),
            Route("GET", f"/1.3/account/details/{USER}", self.get_details, form="legacy"),
            Route("PUT", f"/1.3/account/details/{USER}", self.modify, form="legacy"),
            Route("PUT", f"/1.3/account/sub/{USER}", self.modify, form="legacy"),
            Route("POST", "/1.3/account/sub", self.create_sub, form="legacy"),
            Route("DELETE", f"/1.3/account/sub/{USER}", self.delete_sub, form="legacy"),
            *metering.routes(form="problem"),
        ])

    # -- provider interface ----------------------------------------------------------

    @staticmethod
    def owns(path):
        return path == "/1.3" or path.startswith("/1.3/")

    @staticmethod
    def authenticate(req):
        header = req.headers.get("authorization", "")
        basic = base64.b64encode(f"{CREDENTIALS['username']}:{CREDENTIALS['password']}".encode()).decode()
        if header not in (f"Bearer {CREDENTIALS['token']}", f"Basic {basic}"):
            raise ApiError(401, "AUTHENTICATION_FAILED",
                           "Authentication failed using the given username and password.", form="legacy")

    @staticmethod
    def error(req, route, err, form=None):
        form = form or err.extra.get("form") or (route.form if route else "legacy")
        if form == "problem":
            body = {"type": PROBLEM_TYPE + err.code, "title": err.message, "status": err.status,
                    "correlation_id": str(uuid.uuid4()), "invalid_params": err.extra.get("invalid_params", [])}
            resp = json_response(body, err.status, "application/problem+json")
        else:
            resp = json_response({"error": {"error_code": err.code, "error_message": err.message}}, err.status)
        resp.headers.update(err.headers)
        return resp

    @staticmethod
    def finish(resp):
        return ""  # UpCloud sends no request id

    def state(self):
        details = self.store.upcloud["details"]
        return {"account": {"account": self.store.upcloud["account"]},
                "list": self.account_list(),
                "details": {name: {"account": account} for name, account in details.items()}}

    # -- handlers ----------------------------------------------------------------------

    def details(self, username):
        account = self.store.upcloud["details"].get(username)
        if account is None:
            raise user_not_found(username)
        return account

    def get_account(self, req):
        return json_response({"account": self.store.upcloud["account"]})

    def account_list(self, wanted=()):
        accounts = [account for account in self.store.upcloud["details"].values()
                    if all(label_matches(account, label) for label in wanted)]
        return {"accounts": {"account": [
            {"labels": a["labels"], "roles": a["roles"], "type": a["type"], "username": a["username"]}
            for a in accounts]}}

    def list_accounts(self, req):
        return json_response(self.account_list(req.params.get("label", [])))

    def get_details(self, req, username):
        return json_response({"account": self.details(username)})

    def modify(self, req, username):
        account = self.details(username)
        fields = body_object(req, "account")
        check_fields(fields, account)
        password = fields.pop("password", None)
        if password is not None:
            self.store.passwords[username] = password
        account.update(fields)
        return json_response({"account": account})

    def create_sub(self, req):
        fields = body_object(req, "sub_account")
        missing = [key for key in REQUIRED if key not in fields]
        if missing:
            raise invalid(f"Missing required attribute(s): {', '.join(missing)}.")
        username = fields.pop("username")
        if not isinstance(username, str) or not USERNAME.fullmatch(username):
            raise invalid("The username is invalid.", "INVALID_USERNAME")
        if username in self.store.upcloud["details"]:
            raise invalid(f"Username {username} already exists.", "USERNAME_EXISTS", 409)
        check_fields(fields, None)
        self.store.passwords[username] = fields.pop("password")
        self.store.upcloud["details"][username] = seed.new_subaccount({"username": username, **fields})
        return Response(204)

    def delete_sub(self, req, username):
        account = self.details(username)
        if account["type"] == "main":
            raise invalid("The main account cannot be deleted.", "ACCOUNT_FORBIDDEN", 403)
        del self.store.upcloud["details"][username]
        self.store.passwords.pop(username, None)
        return Response(204)
