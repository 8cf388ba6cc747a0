"""prealert's hub: tablet ingest, incidents, destination routing and the dispatcher's API.

- Pure core (no I/O): ``protocol`` (wire messages), ``frames`` (decoding and plausibility), ``sequence`` (seq/ack
  state), ``throttle``, ``tokens``, ``clinical`` (scores), ``triage`` (patient needs), ``atmister``, ``derive``
  (derived state), ``capacity`` (ED status), ``region`` and ``roads`` (hospitals and travel times), ``routing``.
- Adapters: ``pg`` (PostgreSQL), ``live`` (Redis), ``streams`` (resumable feeds over Redis streams).
- Services: ``ingest``, ``incidents``, ``recommend``, ``hospital_status``, ``unit_notify``.
- Edges: ``web`` (HTTP), ``tablet_socket``, ``stream_socket``.
``dispatch`` never imports ``hospital_gateway``; the composition root is ``prealert.bootstrap``.
"""
