"""Every RFC 9420 structure as a typed, frozen dataclass with byte-exact codecs.

One module per concept: :mod:`.registry` (code points), :mod:`.credentials`,
:mod:`.extensions`, :mod:`.leaf_node`, :mod:`.key_package`, :mod:`.tree`
(ParentNode, Node, the ratchet_tree extension), :mod:`.hpke`, :mod:`.update_path`,
:mod:`.psk`, :mod:`.proposals`, :mod:`.commit`, :mod:`.group_context`,
:mod:`.group_info`, :mod:`.welcome`, :mod:`.framing` (FramedContent, PublicMessage,
PrivateMessage, SenderData) and :mod:`.message` (MLSMessage).

Every structure ``S`` has ``S.decode(reader)`` / ``S.from_bytes(data)`` (the
latter refusing trailing bytes) and ``s.encode(writer)`` / ``bytes(s)``. Decoding
accepts only canonical encodings, so ``bytes(S.from_bytes(b)) == b``; anything else
raises :class:`~sottovoce.mls.errors.DecodeError` naming the field. Decoders check
structure, not policy: the rules of §7.3, §10.1, §12 are the tree's and group's.
"""
