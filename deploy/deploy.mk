# deploy: the one-machine supervisor
