module github.com/outpostsync/outpost

go 1.26.8
