"""bluegreen's library: blue-green deployments of a web app on two servers of your own."""

__version__ = "0.2.0"
