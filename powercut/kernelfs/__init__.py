"""Kernel file systems on loop devices: the floor that `record --fs` and its checks stand on.

`filesystems` makes and checks images (mkfs, fsck) and names their
tools; `loop` binds an image to a loop device (buffered I/O, autoclear)
and unbinds it; `mounting` mounts one with `nodev,nosuid,noexec`, keeps
what the kernel said about it, and takes mounts off whatever holds them;
`owners` says which file owns a block of an image. Nothing here knows a
trace, a model or a target.
"""
