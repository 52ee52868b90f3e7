// Source of the Torch precompiled header shared by the Torch tests.
