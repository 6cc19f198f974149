"""The service's routers: health probes, and ``api_v1``, the home of feature routers."""
