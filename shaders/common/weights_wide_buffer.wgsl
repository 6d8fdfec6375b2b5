// The weights' buffer bound again (binding 8) as 16-byte words, for the dot helpers
// (`dot/<type>.wgsl`) that load a block's body in wide loads. Included as
// `common/weights_wide.wgsl`; with texture weights that name is common/weights_texture.wgsl.

@group(0) @binding(8) var<storage, read> w4: array<vec4<u32>>; // the part, 16 bytes an element

fn w_vec4(i: u32) -> vec4<u32> {
    return w4[i];
}
