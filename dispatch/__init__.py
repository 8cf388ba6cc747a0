"""prealert's hub: tablet ingest, incidents, destination routing and the dispatcher's API.

The pure core (``protocol``, ``frames``, ``clinical``, ``sequence``, ``derive``, ``tokens``, ``region``) does no I/O;
the adapters (``pg``, ``live``, ``embedded``) and the edges (``web``, ``tablet_socket``) are thin.
``dispatch`` never imports ``hospital_gateway``.
"""
