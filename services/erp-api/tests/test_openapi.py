from erp_api import create_app
from erp_api_testing import MakeSettings, serve_in_process

PROBLEM_REF = {"$ref": "#/components/schemas/ErrorResponse"}


async def test_docs_and_schema_are_404_problems_in_production(make_settings: MakeSettings):
    async with serve_in_process(create_app(make_settings(ENVIRONMENT="production"))) as client:
        answers = [await client.get(path) for path in ("/docs", "/redoc", "/openapi.json")]

    for answer in answers:
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"


async def test_docs_are_served_outside_production(client):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await client.get(path)).status_code == 200


async def test_every_operation_documents_problem_answers_and_no_fastapi_422(client):
    schema = (await client.get("/openapi.json")).json()

    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert {"ErrorResponse", "ErrorDetail"} <= set(components)
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert operations
    for operation in operations:
        for code in ("4XX", "5XX", "422"):
            if code in operation["responses"]:
                content = operation["responses"][code]["content"]
                assert content == {"application/problem+json": {"schema": PROBLEM_REF}}
        assert "4XX" in operation["responses"]


async def test_operation_ids_are_unique_and_name_their_method(client):
    schema = (await client.get("/openapi.json")).json()

    ids = {method: operation["operationId"] for method, operation in schema["paths"]["/healthz/live"].items()}
    assert ids == {"get": "live_healthz_live_get", "head": "live_healthz_live_head"}
    assert "content" not in schema["paths"]["/healthz/live"]["head"]["responses"]["200"]


async def test_ready_documents_its_503_as_the_health_body(client):
    schema = (await client.get("/openapi.json")).json()

    answer = schema["paths"]["/healthz/ready"]["get"]["responses"]["503"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReadyResponse"}
