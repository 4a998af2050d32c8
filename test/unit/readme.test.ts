// The README's command and register reference is generated from the tables and must be current.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandDocument, renderReadme } from '../../scripts/gen-readme';

describe('README', () => {
  it('command and register reference match the tables (npm run gen:readme)', () => {
    const text = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    assert.equal(renderReadme(text), text);
  });

  it('docs/commands.md lists every command and field of the table (npm run gen:readme)', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'commands.md'), 'utf8');
    assert.equal(doc, commandDocument());
  });
});
