from etcdplay.cli import main

main()
