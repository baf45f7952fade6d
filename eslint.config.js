import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', '.breakglass/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  // The type-checked rules: they see what the types say (unsafe any, floating promises, "[object Object]" in text).
  ...tseslint.configs.recommendedTypeChecked,
  { languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Tests read Slack's and CloudFormation's JSON as it comes (the fakes type it `any` on purpose, to keep
    // those reads terse), and their doubles implement async ports synchronously; every other
    // type-checked rule applies to them as to src/.
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Test doubles implement async ports without waiting on anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['bin/**', 'test/bench/**', 'infra/bin/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
