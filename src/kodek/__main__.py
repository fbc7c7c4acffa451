from kodek.cli import main

raise SystemExit(main())
