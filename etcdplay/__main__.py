from etcdplay.entry import main

main()
