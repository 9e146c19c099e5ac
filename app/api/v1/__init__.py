"""Version 1 of the REST API, mounted under /api/v1."""

from fastapi import APIRouter

from app.api.v1 import auth, clients, oauth, users

router = APIRouter(prefix="/api/v1")
router.include_router(oauth.router)
router.include_router(auth.router)
router.include_router(users.router)
router.include_router(clients.router)
