// F5 and the dynamic configurations on GPU captures: an AUB file (binary, no text editor) is debugged by
// its name like a .vgpu program; other files still get the message saying what can be debugged.

import * as assert from 'node:assert/strict';
import {
  CAPTURE_LANGUAGE_ID,
  fileConfiguration,
  initialConfiguration,
  resolveLaunch,
} from '../../extension/launchConfig';

describe('extension: launching captures', () => {
  it('F5 with no launch.json debugs the active AUB capture (by name or by its language id)', () => {
    for (const fileName of ['/ws/gltri-bdw.aub.gz', '/ws/trace.aub', '/ws/TRACE.AUB']) {
      assert.deepEqual(resolveLaunch({}, { languageId: '', fileName }), {
        config: { ...initialConfiguration(), program: fileName },
      });
    }
    assert.deepEqual(resolveLaunch({}, { languageId: CAPTURE_LANGUAGE_ID, fileName: '/ws/x' }), {
      config: { ...initialConfiguration(), program: '/ws/x' },
    });
    assert.match(
      (resolveLaunch({}, { languageId: '', fileName: '/ws/trace.aub.gz.bak' }) as { error: string }).error,
      /Open a \.vgpu program/,
    );
  });

  it('a file configuration names the file and pauses where it opens', () => {
    assert.deepEqual(fileConfiguration('/ws/dumps/card0-error'), {
      ...initialConfiguration(),
      name: 'Debug card0-error',
      program: '/ws/dumps/card0-error',
    });
  });
});
