from prealert.cli import main

raise SystemExit(main())
