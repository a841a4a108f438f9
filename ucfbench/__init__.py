"""ucfbench: video action recognition experiments on UCF50, UCF101 and HMDB51."""
