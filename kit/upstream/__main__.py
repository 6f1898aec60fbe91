from kit.upstream.server import main

main()
