# gunicorn settings for the Dockerfile and docker-compose.yml (web sits behind the Caddy proxy).
# The logger class redacts survey and reset tokens from the access and error logs. Which proxy
# headers to believe is Django's decision (TRUSTED_PROXY_*, TRUST_X_FORWARDED_PROTO), not gunicorn's.
bind = "0.0.0.0:8000"
workers = 3
accesslog = "-"
logger_class = "registry.core.logredact.GunicornLogger"
