"""The composition root and command line of prealert: reads the settings once, wires ``dispatch`` and
``hospital_gateway`` together, starts the embedded servers when none are configured."""
