"""A small FastAPI shop, to put behind Portcullis's OpenAPI bridge (examples/openapi.toml).

    .tools/venv/bin/python examples/shop/app.py --port 8000

Reading items is open; creating and deleting them needs the app's own API key in `X-Shop-Key`
(a FastAPI dependency), which Portcullis sends as its own credential. `/admin/stats` exists
but is not exposed. With `--request-log FILE` every request path is appended to FILE (the
tests use it to prove what reached the app).
"""

import argparse
import os

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

SHOP_KEY = os.environ.get("SHOP_KEY", "shop-secret")

app = FastAPI(title="Example shop", version="1.0.0")
ITEMS = {
    1: {"id": 1, "name": "Kettle", "price": 39.0, "tags": ["kitchen"]},
    2: {"id": 2, "name": "Blender", "price": 89.0, "tags": ["kitchen", "electric"]},
}


class NewItem(BaseModel):
    """An item to add to the catalogue."""

    name: str = Field(min_length=1, max_length=80)
    price: float = Field(gt=0, description="Price in euros")
    tags: list[str] = Field(default_factory=list)


def require_key(x_shop_key: str | None = Header(default=None)):
    if x_shop_key != SHOP_KEY:
        raise HTTPException(status_code=401, detail="missing or wrong X-Shop-Key")


@app.middleware("http")
async def log_requests(request: Request, call_next):
    log = getattr(app.state, "request_log", None)
    if log:
        with open(log, "a") as f:
            f.write(f"{request.method} {request.url.path}\n")
    return await call_next(request)


@app.get("/items", operation_id="list_items", summary="List the items, optionally by tag")
def list_items(tag: str | None = None, limit: int = 10):
    items = [i for i in ITEMS.values() if tag is None or tag in i["tags"]]
    return {"items": items[:limit]}


@app.get("/items/{item_id}", operation_id="get_item", summary="One item by id")
def get_item(item_id: int):
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="no such item")
    return ITEMS[item_id]


@app.post("/items", operation_id="create_item", summary="Add an item", status_code=201,
          dependencies=[Depends(require_key)])
def create_item(item: NewItem):
    new_id = max(ITEMS) + 1
    ITEMS[new_id] = {"id": new_id, **item.model_dump()}
    return ITEMS[new_id]


@app.delete("/items/{item_id}", operation_id="delete_item", summary="Remove an item",
            dependencies=[Depends(require_key)])
def delete_item(item_id: int):
    if ITEMS.pop(item_id, None) is None:
        raise HTTPException(status_code=404, detail="no such item")
    return {"deleted": item_id}


@app.get("/notes/{name}", operation_id="read_note", summary="A note by name")
def read_note(name: str):
    return {"name": name, "text": f"note {name}"}


@app.get("/admin/stats", operation_id="admin_stats", summary="Internal figures (not exposed)")
def admin_stats():
    return {"revenue": 123456}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--port-file", help="bind a free port and write it here")
    parser.add_argument("--request-log")
    args = parser.parse_args()
    app.state.request_log = args.request_log
    if args.port_file:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning")
        server = uvicorn.Server(config)
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(args.port_file + ".tmp", args.port_file)
        server.run(sockets=[sock])
    else:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
