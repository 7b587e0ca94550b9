import sys

try:
    from ganlab.cli import main
except KeyboardInterrupt:  # Ctrl-C while ganlab itself is still importing
    print("\nganlab: aborted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
