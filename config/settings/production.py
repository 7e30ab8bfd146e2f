"""Production: every secret from the environment, HTTPS only."""

from .base import *  # noqa: F403
from .database_pool import use_pool
from .env import env_bool, env_int

if not ALLOWED_HOSTS:  # noqa: F405
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the hosts this server answers for.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60)
# --- HSTS scope (issue 14) ---------------------------------------------------------------------
# The app has a host name of its own (celltrace.plant.example): its subdomains are HTTPS too.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Browsers' preload list takes only a registrable domain (plant.example, never the app's
# subdomain) with a max-age of a year: the company's decision for all its hosts, not this app's.
# Hence off and its warning (W021) silenced; DJANGO_SECURE_HSTS_PRELOAD=true sends the token.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True

# `manage.py collectstatic` writes name.<hash>.css plus .gz copies; WhiteNoise serves them with
# far-future caching, so a release never leaves a browser on an old script.
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405

# --- PostgreSQL connection pool (issue 14) -------------------------------------------------------
# On by default here: DATABASE_POOL=false goes back to one connection per thread (CONN_MAX_AGE).
use_pool(DATABASES["default"], default=True)  # noqa: F405
