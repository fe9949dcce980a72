//! The example app: a small axum inventory API documented with utoipa. Reads are open; writes
//! need the app's own key in `X-App-Key` (its own middleware checks it). `/admin/stats` exists
//! but the example config does not expose it.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The key the app's middleware wants on every write.
pub const APP_KEY: &str = "app-secret";

#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct Item {
    id: u64,
    name: String,
    /// Price in cents.
    price_cents: u64,
}

/// An item to add.
#[derive(Deserialize, ToSchema)]
pub struct NewItem {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    #[schema(minimum = 1)]
    price_cents: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many items.
    limit: Option<usize>,
}

#[derive(Clone, Default)]
pub struct Shop {
    items: Arc<Mutex<Vec<Item>>>,
}

fn items(shop: &Shop) -> std::sync::MutexGuard<'_, Vec<Item>> {
    shop.items
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[utoipa::path(get, path = "/items", operation_id = "list_items", params(ListQuery),
    responses((status = 200, body = [Item])))]
/// List the items.
async fn list_items(State(shop): State<Shop>, Query(q): Query<ListQuery>) -> Json<Vec<Item>> {
    let all = items(&shop).clone();
    Json(all.into_iter().take(q.limit.unwrap_or(100)).collect())
}

#[utoipa::path(get, path = "/items/{id}", operation_id = "get_item",
    params(("id" = u64, Path, description = "Item id")),
    responses((status = 200, body = Item), (status = 404, description = "No such item")))]
/// One item by id.
async fn get_item(State(shop): State<Shop>, Path(id): Path<u64>) -> Response {
    match items(&shop).iter().find(|i| i.id == id) {
        Some(item) => Json(item.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such item").into_response(),
    }
}

#[utoipa::path(post, path = "/items", operation_id = "create_item", request_body = NewItem,
    responses((status = 201, body = Item), (status = 401, description = "Missing X-App-Key")))]
/// Add an item.
async fn create_item(
    State(shop): State<Shop>,
    Json(new): Json<NewItem>,
) -> (StatusCode, Json<Item>) {
    let mut all = items(&shop);
    let item = Item {
        id: all.iter().map(|i| i.id).max().unwrap_or(0) + 1,
        name: new.name,
        price_cents: new.price_cents,
    };
    all.push(item.clone());
    (StatusCode::CREATED, Json(item))
}

#[utoipa::path(get, path = "/notes/{name}", operation_id = "read_note",
    params(("name" = String, Path, description = "Note name")),
    responses((status = 200, body = String)))]
/// A note by name.
async fn read_note(Path(name): Path<String>) -> String {
    format!("note {name}")
}

#[utoipa::path(get, path = "/admin/stats", operation_id = "admin_stats",
    responses((status = 200, body = String)))]
/// Internal figures; not exposed.
async fn admin_stats() -> &'static str {
    "revenue: 123456"
}

/// The app's own auth: writes need `X-App-Key`.
async fn require_key(request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("x-app-key")
        .and_then(|v| v.to_str().ok());
    if request.method() != Method::GET && key != Some(APP_KEY) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong X-App-Key").into_response();
    }
    next.run(request).await
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Example inventory", version = "1.0.0"),
    paths(list_items, get_item, create_item, read_note, admin_stats)
)]
pub struct ApiDoc;

/// The app's router, with two items in stock.
pub fn router() -> Router {
    let shop = Shop::default();
    items(&shop).extend([
        Item {
            id: 1,
            name: "Kettle".into(),
            price_cents: 3900,
        },
        Item {
            id: 2,
            name: "Blender".into(),
            price_cents: 8900,
        },
    ]);
    Router::new()
        .route("/items", get(list_items).post(create_item))
        .route("/items/{id}", get(get_item))
        .route("/notes/{name}", get(read_note))
        .route("/admin/stats", get(admin_stats))
        .layer(middleware::from_fn(require_key))
        .with_state(shop)
}

/// The OpenAPI document, as JSON.
pub fn openapi() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
