"""The relay: stores and forwards ciphertext, keeps the key directory. Never decrypts."""
