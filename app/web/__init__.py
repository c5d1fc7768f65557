"""FastAPI: middleware, REST routers, WebSocket endpoints, pages, static files. Only translates."""
