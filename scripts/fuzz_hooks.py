"""schemathesis hooks of scripts/fuzz-api.sh (loaded through SCHEMATHESIS_HOOKS)."""
import schemathesis


@schemathesis.hook("filter_case").apply_to(path="/api/{user_id}/chat")
def not_the_v1_route(context, case):
    # `/api/v1/chat` is a route of its own, and a concrete path wins over a templated one: with
    # `user_id` = v1 the request is `POST /api/v1/chat` (another operation, another answer), which
    # the document says (`not: {const: v1}`). schemathesis's negative cases would send it anyway.
    return (case.path_parameters or {}).get("user_id") != "v1"
