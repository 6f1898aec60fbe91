from kit.edge.app import main

main()
