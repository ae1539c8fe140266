from starlette.testclient import TestClient

from tests.conftest import World
from tests.helpers import PATH


def test_fetch_returns_segments(client: TestClient, world: World) -> None:
    response = client.post(PATH, json=world.body())
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 3
