// safetensors reading and writing: see issue 2. (Implementation lands in this target.)
